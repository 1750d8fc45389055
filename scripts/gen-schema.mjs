#!/usr/bin/env node
// Writes jobs/job.schema.json from the one schema declaration in src/config/job-schema.ts (via the build).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { jobSchema } from '../dist/config/job-schema.js';
import { toJsonSchema } from '../dist/config/schema.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const schema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://mlscale.dev/job.schema.json',
  title: 'mlscale job',
  ...toJsonSchema(jobSchema),
};
writeFileSync(path.join(root, 'jobs', 'job.schema.json'), JSON.stringify(schema, null, 2) + '\n');
