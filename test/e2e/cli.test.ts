import { existsSync } from 'node:fs';
import path from 'node:path';
import { Float32, Table, makeVector, vectorFromArray } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, mlscale } from '../support/cli.js';
import { writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';
import { onnxFixture } from '../support/paths.js';
import { databaseUrl, query, skipPg, tempSchema } from '../support/pg.js';

// The command line's own surface: typos, help, fatal errors as JSON, what validate says.
const s = scratchDir('cli');
const job = (name: string, source: string, extra = '') =>
  s.file(
    `${name}.yaml`,
    `name: ${name}
params: { ds: "2024-01-01" }
model:
  path: ${onnxFixture('test_xgb.onnx')}
  features: [x0, x1, x2, x3]
source:
  ${source}
key: [id]
sink:
  parquet: { path: "out/${name}/ds={{ ds }}" }
${extra}`,
  );

beforeAll(() => {
  // 100 rows, x2 null in row 50: a run under on_null: error fails its quality gate mid-run.
  const n = 100;
  const col = () => Float32Array.from({ length: n }, (_, i) => i / n);
  writeParquet(
    path.join(s.dir, 'in', 'part.parquet'),
    new Table({
      id: makeVector(Int32Array.from({ length: n }, (_, i) => i)),
      x0: makeVector(col()),
      x1: makeVector(col()),
      x2: vectorFromArray(
        Array.from(col(), (v, i) => (i === 50 ? null : v)),
        new Float32(),
      ),
      x3: makeVector(col()),
    }),
  );
});
afterAll(() => s.remove());

describe('the command line', () => {
  it('suggests --job for a mistyped --job instead of saying it is missing', async () => {
    const r = await mlscale(['score', '--jbo', 'x.yaml'], { cwd: s.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("error: unknown option '--jbo'\n(Did you mean --job?)\n(run with --help for usage)\n");
    const missing = await mlscale(['validate'], { cwd: s.dir });
    expect(missing.code).toBe(2);
    expect(errorLine(missing)).toBe("error: required option '--job <file>' not specified");
  });

  it.each([
    [
      [],
      [
        'Examples:',
        '$ mlscale score --job jobs/daily.yaml --param ds=2024-01-31',
        'Exit codes:',
        '  4        another run holds',
      ],
    ],
    [
      ['score'],
      [
        'job file (YAML) (required)',
        'Examples:',
        '$ mlscale score --job daily.yaml --shard 0/4',
        'Exit codes:',
        '  130/143  interrupted',
      ],
    ],
    [['validate'], ['Examples:', '$ mlscale validate --job daily.yaml', 'Exit codes: 0 valid, 2 invalid']],
    [['schedule'], ['Examples:', '$ mlscale schedule', 'Exit codes: 0 stopped by SIGTERM/SIGINT']],
    [
      ['evaluate'],
      [
        'Examples:',
        '$ mlscale evaluate --job daily.yaml --param ds=2024-01-24 --json',
        'Exit codes: 0 evaluated and stored, 3 a monitor: gate is broken',
      ],
    ],
  ])('mlscale %j --help shows examples and exit codes', async (command, parts) => {
    const r = await mlscale([...command, '--help'], { cwd: s.dir });
    expect(r.code).toBe(0);
    for (const part of parts) expect(r.stdout).toContain(part);
  });

  it('under --log-format json, every stderr line is JSON, the fatal one with the run id and exit code', async () => {
    const r = await mlscale(
      ['score', '--job', job('nulls', 'parquet: { path: in }', 'on_null: error\n'), '--log-format', 'json'],
      { cwd: s.dir },
    );
    expect(r.code).toBe(3);
    const lines = r.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const started = lines.find((l) => l.msg === 'run started');
    expect(started?.run_id).toEqual(expect.any(String));
    expect(lines.at(-1)).toEqual({
      ts: expect.any(String),
      level: 'error',
      msg: 'source: column "x2" has a null value (source row 50) and on_null is error; set on_null: skip or on_null: { fill: VALUE } in the job, or fix the data.',
      run_id: started!.run_id,
      code: 'null_feature',
      exit_code: 3,
    });
    expect(existsSync(path.join(s.dir, 'out', 'nulls', 'ds=2024-01-01'))).toBe(false);
  });

  it('under --log-format json, a mistake on the command line or in the job is a JSON line too', async () => {
    const typo = await mlscale(['score', '--jbo', 'x.yaml', '--log-format', 'json'], { cwd: s.dir });
    expect(typo.code).toBe(2);
    expect(
      typo.stderr
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { ts: expect.any(String), level: 'error', msg: "unknown option '--jbo' (Did you mean --job?)", exit_code: 2 },
    ]);
    const bad = await mlscale(['validate', '--job', 'nope.yaml', '--log-format=json'], { cwd: s.dir });
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stderr)).toEqual({
      ts: expect.any(String),
      level: 'error',
      msg: 'job file nope.yaml does not exist; check the --job path.',
      code: 'job_missing',
      exit_code: 2,
    });
  });

  it('validate checks the schedule as schedule does', async () => {
    const r = await mlscale(
      ['validate', '--job', job('sched', 'parquet: { path: in }', 'schedule: "every day at 6"\n')],
      { cwd: s.dir },
    );
    expect(r.code).toBe(2);
    expect(errorLine(r)).toMatch(/^error: sched\.yaml:\d+:\d+: schedule: "every day at 6" is not valid: write a cron/);
  });

  it('validate says how many rows a Parquet source has', async () => {
    const r = await mlscale(['validate', '--job', job('rows', 'parquet: { path: in }')], { cwd: s.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`  source   ${path.join(s.dir, 'in')} (100 rows)\n`);
  });

  it.skipIf(skipPg)('validate does not guess the row count of a Postgres query', async () => {
    const schema = await tempSchema('e2e_cli');
    try {
      await query(
        `CREATE TABLE ${schema.name}.f AS SELECT g AS id, g / 100.0 AS x0, g / 100.0 AS x1, g / 100.0 AS x2, g / 100.0 AS x3 FROM generate_series(1, 10) g`,
      );
      const r = await mlscale(
        [
          'validate',
          '--job',
          job('pgrows', `postgres: { url: "\${DATABASE_URL}", query: "SELECT * FROM ${schema.name}.f" }`),
        ],
        { cwd: s.dir, env: { DATABASE_URL: databaseUrl } },
      );
      expect(errorLine(r)).toBe('');
      expect(r.stdout).toMatch(/\n {2}source {3}postgres:\/\/\S+ query \(row count unknown until scored\)\n/);
      expect(r.stdout).not.toContain('?');
    } finally {
      await schema.drop();
    }
  });
});
