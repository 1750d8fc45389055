import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, mlscale } from '../support/cli.js';
import { scratchDir } from '../support/job.js';
import { onnxFixture } from '../support/paths.js';
import { databaseUrl, query, skipPg, tempSchema } from '../support/pg.js';

// A Postgres source only ever reads: one statement, in a read-only transaction, for validate and
// score alike. A refused connection is retried as the README says; a protocol error is not.

describe.skipIf(skipPg)('a Postgres source reads and nothing else', () => {
  const s = scratchDir('srcguard');
  const env = { DATABASE_URL: databaseUrl };
  let schema: { name: string; drop(): Promise<void> };
  beforeAll(async () => {
    schema = await tempSchema('e2e_srcguard');
    await query(`CREATE TABLE ${schema.name}.features AS
      SELECT g AS id, (g % 7) / 7.0 AS x0, (g % 5) / 5.0 AS x1, (g % 3)::float8 / 3 AS x2, (g % 2)::real AS x3
        FROM generate_series(1, 500) g`);
    await query(`CREATE TABLE ${schema.name}.victim AS SELECT 1 AS keep`);
  });
  afterAll(async () => {
    await schema.drop();
    s.remove();
  });

  const job = (name: string, sql: string, url = '${DATABASE_URL}', extra = '') =>
    s.file(
      `${name}.yaml`,
      `name: ${name}
params: { ds: "2024-01-01" }
model:
  path: ${onnxFixture('test_xgb.onnx')}
  features: [x0, x1, x2, x3]
source:
  postgres: { url: "${url}", query: ${JSON.stringify(sql)} }
key: [id]
sink:
  postgres: { url: "\${DATABASE_URL}", table: ${schema.name}.preds }
${extra}`,
    );
  const victimThere = async () => expect(await query(`SELECT keep FROM ${schema.name}.victim`)).toEqual([{ keep: 1 }]);

  it('refuses a query that smuggles in a second statement, for validate and score (exit 2)', async () => {
    const sql = `SELECT id, x0, x1, x2, x3 FROM ${schema.name}.features) AS q; DROP TABLE ${schema.name}.victim; SELECT * FROM (SELECT 1`;
    for (const command of ['validate', 'score']) {
      const r = await mlscale([command, '--job', job('smuggle', sql)], { env });
      expect(r.code, command).toBe(2);
      expect(errorLine(r)).toBe(
        'error: source.postgres.query: holds more than one SQL statement; give a single SELECT (mlscale reads, it never runs other statements).',
      );
      await victimThere();
    }
  });

  it('runs the query read only: a function in it that deletes cannot (score exit 1, nothing changed)', async () => {
    await query(`CREATE FUNCTION ${schema.name}.wipe() RETURNS int LANGUAGE sql VOLATILE AS
      $$ DELETE FROM ${schema.name}.victim; SELECT 1 $$`);
    const sql = `SELECT id, x0, x1, x2, x3 FROM ${schema.name}.features, ${schema.name}.wipe() AS w`;
    const v = await mlscale(['validate', '--job', job('wipe', sql)], { env });
    expect(errorLine(v)).toBe('');
    await victimThere();
    const r = await mlscale(['score', '--job', job('wipe', sql)], { env });
    expect(r.code).toBe(1);
    expect(errorLine(r)).toMatch(
      /^error: source: reading the query from .* failed \(cannot execute DELETE in a read-only transaction\)\.$/,
    );
    await victimThere();
  });

  it('retries a refused connection to the source (retries, backoff), then fails with exit 1', async () => {
    const down = databaseUrl.replace(/:(\d+)\//, ':1/');
    const file = job(
      'refused',
      `SELECT id, x0, x1, x2, x3 FROM ${schema.name}.features`,
      down,
      'retries: 2\nretry_backoff_s: 0.05\n',
    );
    const r = await mlscale(['score', '--job', file], { env });
    expect(r.code).toBe(1);
    expect(
      r.stderr.match(
        /transient failure \(source: cannot connect to .*ECONNREFUSED.*\); starting the run over in [\d.]+ s \(retry \d of 2\)/g,
      ),
    ).toHaveLength(2);
    expect(errorLine(r)).toMatch(
      /^error: source: cannot connect to postgres:\/\/.*:1\/test \(connect ECONNREFUSED 127\.0\.0\.1:1\); check the URL and that the server is running\.$/,
    );
  });
});
