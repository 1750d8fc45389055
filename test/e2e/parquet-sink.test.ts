import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, mlscale } from '../support/cli.js';
import { readParquetTable, writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';
import { ort, ortRun } from '../support/ort.js';
import { hasStrace, straced } from '../support/strace.js';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { logisticModel } from '../../scripts/lib/onnx-builder.mjs';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { writeFeatureFiles } from '../../scripts/lib/parquet-data.mjs';
import { Float32, Table, makeVector, vectorFromArray } from 'apache-arrow';

const s = scratchDir('pq');
const target = path.join(s.dir, 'out', 'ds=2024-01-01');
const job = (extra = '') =>
  s.file(
    'job.yaml',
    `name: pq_scores
params: { ds: "2024-01-01" }
model:
  path: model.onnx
  features: [f0, f1, f2]
source:
  parquet: { path: data }
key: [id]
batch_size: 1000
parallelism: 2
sink:
  parquet: { path: "out/ds={{ ds }}", rows_per_file: 4000 }
${extra}`,
  );

beforeAll(() => {
  writeFileSync(path.join(s.dir, 'model.onnx'), logisticModel({ weights: [1.5, -2, 0.5], bias: 0.1, inputName: 'x' }));
  writeFeatureFiles(path.join(s.dir, 'data'), { rows: 10_000, features: 3, files: 2, rowGroupSize: 1500 });
});
afterAll(() => s.remove());

function outputTable() {
  const parts = readdirSync(target)
    .filter((f) => f.endsWith('.parquet'))
    .sort();
  const tables = parts.map((p) => readParquetTable(path.join(target, p)));
  return { parts, tables };
}

describe('score into Parquet (real CLI)', () => {
  it('publishes part files, _SUCCESS and the ledger row; values match onnxruntime; output order is the input order', async () => {
    const r = await mlscale(['score', '--job', job(), '--run-id', 'first'], { cwd: s.dir });
    expect(errorLine(r)).toBe('');
    expect(r.code).toBe(0);
    const { parts, tables } = outputTable();
    expect(parts).toEqual(['part-00000.parquet', 'part-00001.parquet', 'part-00002.parquet']);
    expect(existsSync(path.join(target, '_SUCCESS'))).toBe(true);
    const ledger = JSON.parse(readFileSync(path.join(target, '_mlscale_run.json'), 'utf8'));
    expect(ledger).toMatchObject({
      run_id: 'first',
      job: 'pq_scores',
      partition: '2024-01-01',
      status: 'succeeded',
      rows_read: 10000,
      rows_written: 10000,
    });
    expect(ledger.stats.predictions.score.count).toBe(10000);

    const ids = tables.flatMap((t) => Array.from(t.getChild('id')!, Number));
    expect(ids).toEqual(Array.from({ length: 10000 }, (_, i) => i));
    const scores = tables.flatMap((t) => Array.from(t.getChild('score')!) as number[]);
    const input = readParquetTable(path.join(s.dir, 'data', 'part-0000.parquet'));
    const n = 100;
    const x = new Float32Array(n * 3);
    for (let r2 = 0; r2 < n; r2++) for (let f = 0; f < 3; f++) x[r2 * 3 + f] = input.getChild(`f${f}`)!.get(r2);
    const ref = await ortRun(readFileSync(path.join(s.dir, 'model.onnx')), { x: new ort.Tensor('float32', x, [n, 3]) });
    for (let i = 0; i < n; i++) expect(Math.abs(scores[i]! - (ref.score!.data as Float32Array)[i]!)).toBeLessThan(1e-6);
    // Under cron or Airflow (stderr not a terminal): stdout is only the summary, stderr only JSON lines.
    expect(r.stdout.startsWith('scored job pq_scores, partition 2024-01-01, run first\n')).toBe(true);
    for (const line of r.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('npm warn')))
      expect(JSON.parse(line)).toHaveProperty('level');
    expect(tables[0]!.schema.fields.map((f) => f.name)).toEqual([
      'id',
      'score',
      'label',
      'model_name',
      'model_version',
      'partition',
      'run_id',
      'scored_at',
    ]);
  });

  it('gives the same rows and values at parallelism 1 and 2', async () => {
    const two = outputTable().tables.flatMap((t) => Array.from(t.getChild('score')!) as number[]);
    const r = await mlscale(['score', '--job', job(), '--parallelism', '1'], { cwd: s.dir });
    expect(r.code).toBe(0);
    const one = outputTable().tables.flatMap((t) => Array.from(t.getChild('score')!) as number[]);
    expect(one).toEqual(two);
  });

  it('a rerun replaces the partition; a failed run leaves the published one untouched and no staging files', async () => {
    const again = await mlscale(['score', '--job', job(), '--run-id', 'second'], { cwd: s.dir });
    expect(again.code).toBe(0);
    expect(JSON.parse(readFileSync(path.join(target, '_mlscale_run.json'), 'utf8')).run_id).toBe('second');
    expect(outputTable().tables.reduce((n, t) => n + t.numRows, 0)).toBe(10000);

    // A null deep in the input fails the run after most chunks were written to staging.
    const n = 10_000;
    const f0 = Float32Array.from({ length: n }, (_, i) => (i % 10) / 10);
    const nulls = vectorFromArray(
      Array.from({ length: n }, (_, i) => (i === 9_000 ? null : 0.5)),
      new Float32(),
    );
    writeParquet(
      path.join(s.dir, 'bad', 'bad.parquet'),
      new Table({
        id: makeVector(Int32Array.from({ length: n }, (_, i) => i)),
        f0: makeVector(f0),
        f1: nulls,
        f2: makeVector(f0),
      }),
      1000,
    );
    const badJob = s.file(
      'bad.yaml',
      readFileSync(job(), 'utf8').replace('parquet: { path: data }', 'parquet: { path: bad }'),
    );
    const failed = await mlscale(['score', '--job', badJob, '--run-id', 'third'], { cwd: s.dir });
    expect(failed.code).toBe(3);
    expect(errorLine(failed)).toBe(
      'error: source: column "f1" has a null value (source row 9000) and on_null is error; set on_null: skip or on_null: { fill: VALUE } in the job, or fix the data.',
    );
    expect(JSON.parse(readFileSync(path.join(target, '_mlscale_run.json'), 'utf8')).run_id).toBe('second');
    expect(outputTable().tables.reduce((m, t) => m + t.numRows, 0)).toBe(10000);
    expect(readdirSync(path.join(s.dir, 'out')).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it.skipIf(!hasStrace)(
    'records every run in the root’s ledger: a failed one, and a killed one, shown abandoned until the next run settles it',
    async () => {
      const runs = async (...args: string[]) =>
        JSON.parse((await mlscale(['runs', '--dir', 'out', '--json', ...args], { cwd: s.dir })).stdout) as {
          run_id: string;
          status: string;
          error: string | null;
        }[];
      // The run that failed on a null above is recorded, with its error.
      const failed = await runs('--status', 'failed');
      expect(failed.map((r) => [r.run_id, r.error?.startsWith('source: column "f1" has a null value')])).toEqual([
        ['third', true],
      ]);
      expect(existsSync(path.join(s.dir, 'out', '_mlscale', 'runs', 'third.json'))).toBe(true);
      // Killed at its publish's first rename: its record still says running.
      expect(straced(s.dir, ['score', '--job', job(), '--run-id', 'killed'], 'rename', 1).status).toBeNull();
      const record = () => JSON.parse(readFileSync(path.join(s.dir, 'out', '_mlscale', 'runs', 'killed.json'), 'utf8'));
      expect(record()).toMatchObject({ run_id: 'killed', status: 'running', finished_at: null });
      // Its lock names a dead process: runs shows it abandoned, not running.
      const lockFile = path.join(s.dir, 'out', record().lock as string);
      expect(JSON.parse(readFileSync(lockFile, 'utf8'))).toMatchObject({ run_id: 'killed' });
      expect((await runs()).find((r) => r.run_id === 'killed')?.status).toBe('abandoned');
      expect((await runs('--status', 'abandoned')).map((r) => r.run_id)).toEqual(['killed']);
      // Held by a live process (this one, standing in for the run), the same record reads running.
      const dead = readFileSync(lockFile, 'utf8');
      writeFileSync(lockFile, JSON.stringify({ ...JSON.parse(dead), pid: process.pid }));
      expect((await runs()).find((r) => r.run_id === 'killed')?.status).toBe('running');
      writeFileSync(lockFile, dead);
      // The next run of the partition puts the old partition back and records the dead run failed.
      const next = await mlscale(['score', '--job', job(), '--run-id', 'fourth'], { cwd: s.dir });
      expect(errorLine(next)).toBe('');
      expect(record()).toMatchObject({
        status: 'failed',
        error: 'abandoned: the process ended without finishing the run',
      });
      expect((await runs('--status', 'failed')).map((r) => r.run_id)).toEqual(['killed', 'third']);
      // A succeeded run is counted once, though both its partition and the ledger record it.
      const succeeded = (await runs('--status', 'succeeded')).map((r) => r.run_id);
      expect(succeeded.filter((id) => id === 'fourth')).toEqual(['fourth']);
      expect(succeeded.length).toBe(4);
      // As in Postgres, a run id names one run: a second run under it is refused and changes nothing.
      const again = await mlscale(['score', '--job', job(), '--run-id', 'fourth'], { cwd: s.dir });
      expect(again.code).toBe(2);
      expect(errorLine(again)).toBe(
        `error: --run-id fourth: that run id is already in the ledger ${path.join(s.dir, 'out', '_mlscale', 'runs')}; give this run a new one (or leave --run-id out).`,
      );
      expect((await runs()).find((r) => r.run_id === 'fourth')?.status).toBe('succeeded');
      expect(JSON.parse(readFileSync(path.join(target, '_mlscale_run.json'), 'utf8')).run_id).toBe('fourth');
    },
  );
});
