import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, mlscale } from '../support/cli.js';
import { scratchDir } from '../support/job.js';
import { databaseUrl, query, skipPg, tempSchema } from '../support/pg.js';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { logisticModel } from '../../scripts/lib/onnx-builder.mjs';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { writeFeatureFiles } from '../../scripts/lib/parquet-data.mjs';

// `runs` and `report` find the ledger where the job's sink put it, and never answer "no runs"
// without saying where they looked.

describe.skipIf(skipPg)('runs and report find the ledger', () => {
  const s = scratchDir('discover');
  const env = { DATABASE_URL: databaseUrl };
  let schema: { name: string; drop(): Promise<void> };
  const emptyDb = `mlscale_empty_${randomBytes(3).toString('hex')}`;
  beforeAll(async () => {
    schema = await tempSchema('e2e_discover');
    await query(`CREATE DATABASE ${emptyDb}`);
    writeFileSync(path.join(s.dir, 'model.onnx'), logisticModel({ weights: [1, -1, 0.5], bias: 0, inputName: 'x' }));
    writeFeatureFiles(path.join(s.dir, 'data'), { rows: 500, features: 3, files: 1, rowGroupSize: 500 });
  });
  afterAll(async () => {
    await schema.drop();
    await query(`DROP DATABASE IF EXISTS ${emptyDb}`);
    s.remove();
  });
  const job = (name: string, sink: string) =>
    s.file(
      `${name}.yaml`,
      `name: ${name}
params: { ds: "2024-01-01" }
model:
  path: model.onnx
  features: [f0, f1, f2]
source:
  parquet: { path: data }
key: [id]
sink:
  ${sink}
`,
    );

  it('finds a Postgres ledger in the sink schema: from the job file, by job name across schemas, or refuses naming where it looked', async () => {
    const file = job('found_pg', `postgres: { url: "\${DATABASE_URL}", table: ${schema.name}.preds }`);
    expect((await mlscale(['score', '--job', file], { cwd: s.dir, env })).code).toBe(0);
    const byFile = await mlscale(['runs', '--job', file, '--json'], { cwd: s.dir, env });
    expect(errorLine(byFile)).toBe('');
    expect(JSON.parse(byFile.stdout).map((r: { job: string }) => r.job)).toEqual(['found_pg']);
    const byName = await mlscale(['runs', '--job', 'found_pg', '--json'], { cwd: s.dir, env });
    expect(JSON.parse(byName.stdout).map((r: { job: string }) => r.job)).toEqual(['found_pg']);
    const report = await mlscale(['report', '--job', file, '--out', 'pg.html'], { cwd: s.dir, env });
    expect(errorLine(report)).toBe('');
    const none = await mlscale(['runs', '--job', 'no_such_job', '--schema', schema.name], { cwd: s.dir, env });
    expect(none.stdout).toMatch(/^no runs of job no_such_job in postgres:\/\/.* \(schema e2e_discover_\w+\)\n$/);
    const wrongSchema = await mlscale(['runs', '--schema', 'no_such_schema'], { cwd: s.dir, env });
    expect(wrongSchema.code).toBe(2);
    expect(errorLine(wrongSchema)).toMatch(
      /^error: --schema no_such_schema: no mlscale ledger \(mlscale_runs\) there in postgres:\/\/\S+; ledgers are in .*e2e_discover_\w+.*\.$/,
    );
    const url = new URL(databaseUrl);
    url.pathname = `/${emptyDb}`;
    const empty = await mlscale(['runs', '--url', url.toString()], { cwd: s.dir });
    expect(empty.code).toBe(2);
    expect(errorLine(empty)).toBe(
      `error: no mlscale ledger (mlscale_runs) in any schema of ${url.toString()}; runs are recorded in the schema of the job's sink table (pass --url for another database, or --dir for Parquet output).`,
    );
  });

  it('finds a Parquet ledger under the sink root from the job file', async () => {
    const file = job('found_pq', 'parquet: { path: "out/found/ds={{ ds }}" }');
    expect((await mlscale(['score', '--job', file], { cwd: s.dir })).code).toBe(0);
    const r = await mlscale(['runs', '--job', file, '--json'], { cwd: s.dir });
    expect(errorLine(r)).toBe('');
    expect(JSON.parse(r.stdout).map((x: { job: string; partition: string }) => [x.job, x.partition])).toEqual([
      ['found_pq', '2024-01-01'],
    ]);
    const report = await mlscale(['report', '--job', file, '--out', 'pq.html'], { cwd: s.dir });
    expect(errorLine(report)).toBe('');
    const missing = await mlscale(['runs', '--dir', 'nowhere'], { cwd: s.dir });
    expect(missing.code).toBe(2);
    expect(errorLine(missing)).toBe(
      `error: --dir: ${path.join(s.dir, 'nowhere')} is not a directory; point it at the Parquet sink's output.`,
    );
  });
});
