import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { jobSchema } from '../../src/config/job-schema.js';
import { suggest, toJsonSchema, validate } from '../../src/config/schema.js';
import { repoRoot } from '../support/paths.js';

describe('job schema', () => {
  it('ships a JSON Schema generated from the same declaration (run scripts/gen-schema.mjs after changing it)', () => {
    const shipped = JSON.parse(readFileSync(path.join(repoRoot, 'jobs', 'job.schema.json'), 'utf8'));
    const { $schema: _s, $id: _i, title: _t, ...rest } = shipped;
    expect(rest).toEqual(JSON.parse(JSON.stringify(toJsonSchema(jobSchema))));
  });

  it('suggests close names only', () => {
    expect(suggest('paralelism', ['parallelism', 'partition'])).toBe('parallelism');
    expect(suggest('zzz', ['parallelism', 'partition'])).toBeUndefined();
  });

  it('reports every issue, not just the first', () => {
    const issues = validate(jobSchema, {
      name: 1,
      model: {},
      source: { parquet: { path: 'x' } },
      sink: { parquet: { path: 'y' } },
      batch_size: 0,
    });
    expect(issues.map((i) => i.message)).toEqual([
      'name: expected a string, got number 1',
      'model: missing required key "path"',
      'batch_size: must be at least 1, got 0',
    ]);
  });
});
