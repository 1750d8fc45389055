import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, mlscale, type CliResult } from '../support/cli.js';
import { scratchDir } from '../support/job.js';
import { databaseUrl, query, skipPg, tempSchema } from '../support/pg.js';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { logisticModel } from '../../scripts/lib/onnx-builder.mjs';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { writeFeatureFiles } from '../../scripts/lib/parquet-data.mjs';

// Passwords never leave the process: not in logs, errors, --verbose stacks, the summary, the
// ledger (Postgres and Parquet), `runs`, or the report. The server trusts every password, so a
// password with '@', a space and a quote still connects.

const PASSWORD = "p@ss w0rd'x";
const s = scratchDir('secrets');
const url = new URL(databaseUrl);
url.password = encodeURIComponent(PASSWORD).replace(/'/g, '%27');
const secretUrl = url.toString();
// The raw form a person types, which WHATWG URL parsing and pg still accept.
const rawUrl = secretUrl.replace(url.password, "p@ss w0rd'x");
const forms = [PASSWORD, encodeURIComponent(PASSWORD), url.password, 'p@ss', 'w0rd', 'hunter2'];

function noSecret(r: CliResult | string, what: string): void {
  const text = typeof r === 'string' ? r : r.stdout + r.stderr;
  for (const f of forms) expect(text.includes(f), `${what} shows ${f}`).toBe(false);
}

describe.skipIf(skipPg)('secrets stay secret', () => {
  let schema: { name: string; drop(): Promise<void> };
  beforeAll(async () => {
    schema = await tempSchema('e2e_secrets');
    writeFileSync(path.join(s.dir, 'model.onnx'), logisticModel({ weights: [1, -1, 0.5], bias: 0, inputName: 'x' }));
    writeFeatureFiles(path.join(s.dir, 'data'), { rows: 2000, features: 3, files: 1, rowGroupSize: 1000 });
  });
  afterAll(async () => {
    await schema.drop();
    s.remove();
  });

  const job = (name: string, sink: string) =>
    s.file(
      `${name}.yaml`,
      `name: ${name}
params: { ds: "2024-01-01", dsn: "\${DATABASE_URL}", region: eu }
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

  it('a URL password with @, a space and a quote shows nowhere; params from the environment are recorded by name', async () => {
    for (const dbUrl of [secretUrl, rawUrl]) {
      const env = { DATABASE_URL: dbUrl };
      const pgJob = job('pgsecret', `postgres: { url: "\${DATABASE_URL}", table: ${schema.name}.preds }`);
      const args = ['--param', 'other=postgres://me:hunter2@db.example/x'];
      const ok = await mlscale(['score', '--job', pgJob, '--log-format', 'json', '--verbose', ...args], {
        cwd: s.dir,
        env,
      });
      expect(errorLine(ok)).toBe('');
      noSecret(ok, 'a successful run');
      const [row] = await query<{ params: Record<string, string> }>(
        `SELECT params FROM ${schema.name}.mlscale_runs ORDER BY started_at DESC LIMIT 1`,
      );
      expect(row!.params).toEqual({
        ds: '2024-01-01',
        dsn: '${DATABASE_URL}',
        region: 'eu',
        other: 'postgres://me:***@db.example/x',
      });
      noSecret(JSON.stringify(row), 'the ledger');
      const runs = await mlscale(['runs', '--schema', schema.name, '--json'], { cwd: s.dir, env });
      expect(runs.code).toBe(0);
      noSecret(runs, 'mlscale runs');
      const report = await mlscale(['report', '--job', 'pgsecret', '--schema', schema.name], { cwd: s.dir, env });
      expect(report.code).toBe(0);
      noSecret(report, 'the report');

      // A connection that fails (nothing listens on port 1), with the stack trace asked for.
      const badUrl = dbUrl.replace(/:(\d+)\//, ':1/');
      const bad = await mlscale(['score', '--job', pgJob, '--verbose'], { cwd: s.dir, env: { DATABASE_URL: badUrl } });
      expect(bad.code).toBe(1);
      expect(errorLine(bad)).toMatch(
        /^error: sink: cannot connect to postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/test/,
      );
      noSecret(bad, 'a connection error');
      const badRuns = await mlscale(['runs', '--url', badUrl], { cwd: s.dir });
      expect(badRuns.code).toBe(1);
      noSecret(badRuns, 'runs against a server that is down');

      // A password given as a parameter into a URL template is hidden in the record too.
      const templated = s.file(
        'templated.yaml',
        readFileSync(pgJob, 'utf8').replace(
          'url: "${DATABASE_URL}"',
          `url: "postgres://postgres:{{ pw }}@${url.host}${url.pathname}"`,
        ),
      );
      const viaParam = await mlscale(['score', '--job', templated, '--param', 'pw=hunter2'], { cwd: s.dir, env });
      expect(errorLine(viaParam)).toBe('');
      noSecret(viaParam, 'a run with a password parameter');
      const [withPw] = await query<{ params: Record<string, string> }>(
        `SELECT params FROM ${schema.name}.mlscale_runs ORDER BY started_at DESC LIMIT 1`,
      );
      expect(withPw!.params.pw).toBe('***');

      const pqJob = job('pqsecret', 'parquet: { path: "out/ds={{ ds }}" }');
      const pq = await mlscale(['score', '--job', pqJob, ...args], { cwd: s.dir, env });
      expect(errorLine(pq)).toBe('');
      const ledger = readFileSync(path.join(s.dir, 'out', 'ds=2024-01-01', '_mlscale_run.json'), 'utf8');
      expect(JSON.parse(ledger).params.dsn).toBe('${DATABASE_URL}');
      noSecret(ledger, 'the Parquet ledger');
    }
  });
});
