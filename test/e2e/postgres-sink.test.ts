import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Table, vectorFromArray, Float64, Int32 } from 'apache-arrow';
import { csvTable, writeParquet } from '../support/data.js';
import { errorLine, mlscale } from '../support/cli.js';
import { scratchDir } from '../support/job.js';
import { ort, ortRun } from '../support/ort.js';
import { databaseUrl, query, skipPg, tempSchema } from '../support/pg.js';
import { datasetFixture, onnxFixture } from '../support/paths.js';

describe.skipIf(skipPg)('score into Postgres (real server, real CLI)', () => {
  const s = scratchDir('pg');
  let schema: { name: string; drop(): Promise<void> };
  let titanic: Table;
  const env = { DATABASE_URL: databaseUrl };

  beforeAll(async () => {
    schema = await tempSchema('e2e_pg');
    titanic = csvTable(
      datasetFixture('titanic3.csv'),
      { pclass: 'int', sex: 'string', age: 'float', fare: 'float', embarked: 'string' },
      { rowId: 'row_id' },
    );
    writeParquet(path.join(s.dir, 'titanic', 'ds=2024-01-01', 'part-0.parquet'), titanic, 300);
  });
  afterAll(async () => {
    await schema.drop();
    s.remove();
  });

  const titanicJob = (table: string, extra = '') =>
    s.file(
      `${table}.yaml`,
      `name: titanic_daily
model:
  path: ${onnxFixture('pipeline_titanic_nozipmap.onnx')}
  outputs:
    survived: { output: label }
    p_survived: { output: probabilities, column: 1 }
source:
  parquet: { path: "titanic/ds={{ ds }}/*.parquet" }
key: [row_id]
on_null: { fill: .nan }
batch_size: 128
parallelism: 2
sink:
  postgres: { url: "\${DATABASE_URL}", table: ${schema.name}.${table} }
${extra}`,
    );

  it('scores a real Parquet file with a real exported model; predictions match onnxruntime; a rerun replaces, never duplicates', async () => {
    const job = titanicJob('titanic_scores');
    const first = await mlscale(['score', '--job', job, '--param', 'ds=2024-01-01'], { env });
    expect(errorLine(first)).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(
      'rows         read 1309, scored 1309, rejected 0, null values filled 266, written 1309',
    );

    const rows = await query<{
      row_id: number;
      survived: string;
      p_survived: number;
      partition: string;
      model_name: string;
    }>(`SELECT row_id, survived, p_survived, partition, model_name FROM ${schema.name}.titanic_scores ORDER BY row_id`);
    expect(rows.length).toBe(1309);
    expect(rows[0]!.partition).toBe('2024-01-01');
    expect(rows[0]!.model_name).toBe('pipeline_titanic_nozipmap');

    const n = titanic.numRows;
    const str = (c: string) =>
      Array.from({ length: n }, (_, r) => {
        const v = titanic.getChild(c)!.get(r);
        return v === null ? 'NaN' : String(v);
      });
    const num = (c: string) => Float32Array.from({ length: n }, (_, r) => titanic.getChild(c)!.get(r) ?? NaN);
    const ref = await ortRun(onnxFixture('pipeline_titanic_nozipmap.onnx'), {
      pclass: new ort.Tensor(
        'int64',
        BigInt64Array.from({ length: n }, (_, r) => titanic.getChild('pclass')!.get(r) as bigint),
        [n, 1],
      ),
      sex: new ort.Tensor('string', str('sex'), [n, 1]),
      age: new ort.Tensor('float32', num('age'), [n, 1]),
      fare: new ort.Tensor('float32', num('fare'), [n, 1]),
      embarked: new ort.Tensor('string', str('embarked'), [n, 1]),
    });
    const labels = ref.label!.data as BigInt64Array;
    const probs = ref.probabilities!.data as Float32Array;
    for (const row of rows) {
      expect(BigInt(row.survived)).toBe(labels[row.row_id]);
      expect(Math.abs(row.p_survived - probs[row.row_id * 2 + 1]!)).toBeLessThan(1e-6);
    }

    const second = await mlscale(['score', '--job', job, '--param', 'ds=2024-01-01', '--run-id', 'rerun-1'], { env });
    expect(second.code).toBe(0);
    const after = await query<{ n: string; runs: string; run_id: string }>(
      `SELECT count(*) AS n, count(DISTINCT run_id) AS runs, min(run_id) AS run_id FROM ${schema.name}.titanic_scores`,
    );
    expect(after[0]).toEqual({ n: '1309', runs: '1', run_id: 'rerun-1' });
    const ledger = await query<{ status: string; rows_written: string }>(
      `SELECT status, rows_written FROM ${schema.name}.mlscale_runs WHERE job = 'titanic_daily' ORDER BY started_at`,
    );
    expect(ledger).toEqual([
      { status: 'succeeded', rows_written: '1309' },
      { status: 'succeeded', rows_written: '1309' },
    ]);

    // For analysts: the newest partition as a view, and comments naming the job and the model.
    expect(await query(`SELECT count(*) AS n FROM ${schema.name}.titanic_scores_latest`)).toEqual([{ n: '1309' }]);
    const [comments] = await query<{ t: string; c: string }>(
      `SELECT obj_description('${schema.name}.titanic_scores'::regclass) AS t, col_description('${schema.name}.titanic_scores'::regclass, 3) AS c`,
    );
    expect(comments!.t).toMatch(
      /^Predictions written by mlscale job titanic_daily with model pipeline_titanic_nozipmap \(version [0-9a-f]{12}\); each run replaces one partition atomically\.$/,
    );
    expect(comments!.c).toMatch(/^Prediction: output "probabilities", column 1 of model pipeline_titanic_nozipmap/);
    const indexes = await query<{ indexdef: string }>(
      `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'titanic_scores'`,
      [schema.name],
    );
    expect(indexes.map((i) => i.indexdef)).toEqual([
      `CREATE INDEX titanic_scores_key_idx ON ONLY ${schema.name}.titanic_scores USING btree (row_id)`,
    ]);
    // Partitioned by partition value, then by run: the re-run's table replaced the first run's.
    const tree = await query<{ level: number; leaf: boolean; bound: string | null }>(
      `SELECT level, isleaf AS leaf, pg_get_expr(c.relpartbound, c.oid) AS bound
         FROM pg_partition_tree('${schema.name}.titanic_scores') t JOIN pg_class c ON c.oid = t.relid ORDER BY level`,
    );
    expect(tree).toEqual([
      { level: 0, leaf: false, bound: null },
      { level: 1, leaf: false, bound: "FOR VALUES IN ('2024-01-01')" },
      { level: 2, leaf: true, bound: "FOR VALUES IN ('rerun-1')" },
    ]);

    const runs = await mlscale(['runs', '--schema', schema.name, '--json'], { env });
    expect(JSON.parse(runs.stdout)[0].run_id).toBe('rerun-1');
  });

  it('a failure mid-run leaves no rows visible and the previous partition intact', async () => {
    // 1000 rows in row groups of 100; a null in the last group fails the run after ~900 rows were sent by COPY.
    const n = 1000;
    const x = Array.from({ length: n }, (_, i) => (i === 950 ? null : (i % 97) / 97));
    const t = new Table({
      id: vectorFromArray(
        Array.from({ length: n }, (_, i) => i),
        new Int32(),
      ),
      x: vectorFromArray(x, new Float64()),
      y: vectorFromArray(
        x.map(() => 0.5),
        new Float64(),
      ),
    });
    writeParquet(path.join(s.dir, 'lof', 'ds=2024-01-01', 'bad.parquet'), t, 100);
    const good = new Table({
      id: vectorFromArray([1, 2, 3], new Int32()),
      x: vectorFromArray([0.1, 0.2, 0.3], new Float64()),
      y: vectorFromArray([0.5, 0.5, 0.5], new Float64()),
    });
    writeParquet(path.join(s.dir, 'lof', 'ds=2024-01-02', 'good.parquet'), good);
    const job = s.file(
      'lof.yaml',
      `name: lof_daily
params: { day: "2024-01-01" }
model:
  path: ${onnxFixture('local_outlier_factor.onnx')}
  features: [x, y]
source:
  parquet: { path: "lof/ds={{ day }}" }
key: [id]
batch_size: 50
parallelism: 2
partition: "2024-01-01"
sink:
  postgres: { url: "\${DATABASE_URL}", table: ${schema.name}.lof_scores }
`,
    );
    const ok = await mlscale(['score', '--job', job, '--param', 'day=2024-01-02', '--run-id', 'good-run'], { env });
    expect(ok.code).toBe(0);
    const bad = await mlscale(['score', '--job', job, '--run-id', 'bad-run'], { env });
    expect(bad.code).toBe(3);
    expect(errorLine(bad)).toBe(
      'error: source: column "x" has a null value (source row 950) and on_null is error; set on_null: skip or on_null: { fill: VALUE } in the job, or fix the data.',
    );
    const visible = await query<{ run_id: string; n: string }>(
      `SELECT run_id, count(*) AS n FROM ${schema.name}.lof_scores GROUP BY run_id`,
    );
    expect(visible).toEqual([{ run_id: 'good-run', n: '3' }]);
    const ledger = await query<{ run_id: string; status: string; error: string; rows_read: string }>(
      `SELECT run_id, status, error, rows_read FROM ${schema.name}.mlscale_runs WHERE job = 'lof_daily' ORDER BY started_at`,
    );
    expect(ledger.map((r) => [r.run_id, r.status])).toEqual([
      ['good-run', 'succeeded'],
      ['bad-run', 'failed'],
    ]);
    expect(ledger[1]!.error).toContain('column "x" has a null value');
    expect(Number(ledger[1]!.rows_read)).toBeGreaterThanOrEqual(900);
  });

  it('refuses an existing table that lacks a prediction column, before writing (exit 2)', async () => {
    await query(`CREATE TABLE ${schema.name}.old_scores (row_id integer, survived bigint)`);
    const r = await mlscale(['score', '--job', titanicJob('old_scores'), '--param', 'ds=2024-01-01'], { env });
    expect(r.code).toBe(2);
    expect(errorLine(r)).toBe(
      `error: sink: table ${schema.name}.old_scores exists without column(s) "p_survived" (double precision), "model_name" (text), "model_version" (text), "partition" (text), "run_id" (text), "scored_at" (timestamptz); add them (ALTER TABLE ... ADD COLUMN) or write to a new table.`,
    );
    expect(await query(`SELECT * FROM ${schema.name}.old_scores`)).toEqual([]);
  });

  it('hides the password of the URL in errors', async () => {
    const job = titanicJob('pw_scores');
    const r = await mlscale(['score', '--job', job, '--param', 'ds=2024-01-01'], {
      env: { DATABASE_URL: 'postgres://mlscale:hunter2@127.0.0.1:1/nope' },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain('hunter2');
    expect(errorLine(r)).toMatch(
      /^error: sink: cannot connect to postgres:\/\/mlscale:\*\*\*@127\.0\.0\.1:1\/nope \(.+\); check the URL and that the server is running\.$/,
    );
  });
});
