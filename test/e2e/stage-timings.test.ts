import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, mlscale } from '../support/cli.js';
import { scratchDir } from '../support/job.js';
import { databaseUrl, query, skipPg, tempSchema } from '../support/pg.js';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { logisticModel } from '../../scripts/lib/onnx-builder.mjs';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { writeFeatureFiles } from '../../scripts/lib/parquet-data.mjs';

// Where a run's time went, as the summary, --json and the ledger say it: every stage is there,
// the numbers add up to the run, and the ledger holds what the run printed.

const STAGES = ['read_ms', 'tensors_ms', 'inference_ms', 'stats_ms', 'write_ms', 'wait_ms', 'publish_ms'] as const;
type Timings = Record<(typeof STAGES)[number] | 'start_ms' | 'parquet_ms' | 'workers' | 'cpu_ms' | 'cpu_cores', number>;

const s = scratchDir('timings');
const env = { DATABASE_URL: databaseUrl };

beforeAll(() => {
  writeFileSync(path.join(s.dir, 'model.onnx'), logisticModel({ weights: [1.5, -2, 0.5], bias: 0.1, inputName: 'x' }));
  writeFeatureFiles(path.join(s.dir, 'data'), { rows: 20_000, features: 3, files: 2, rowGroupSize: 4096 });
});
afterAll(() => s.remove());

function checkTimings(t: Timings, durationMs: number): void {
  for (const k of [...STAGES, 'start_ms'] as const) {
    expect(Number.isInteger(t[k]), k).toBe(true);
    expect(t[k], k).toBeGreaterThanOrEqual(0);
  }
  // The first chunk is read after the process starts (node itself takes tens of ms) and before the run ends.
  expect(t.start_ms).toBeGreaterThan(0);
  expect(t.inference_ms).toBeGreaterThan(0);
  expect(t.read_ms).toBeGreaterThan(0);
  // Main-thread stages happen one after another inside the run: together they cannot exceed it.
  const main = t.read_ms + t.tensors_ms + t.stats_ms + t.write_ms + t.wait_ms + t.publish_ms;
  expect(main).toBeLessThanOrEqual(durationMs + STAGES.length);
  // The process's CPU from the first chunk on: some, and no more than every core for the whole run.
  expect(Number.isInteger(t.cpu_ms)).toBe(true);
  expect(t.cpu_ms).toBeGreaterThan(0);
  expect(t.cpu_ms).toBeLessThanOrEqual(durationMs * availableParallelism() + 20);
  expect(t.cpu_cores).toBeGreaterThan(0);
  expect(t.cpu_cores).toBeLessThanOrEqual(availableParallelism() + 0.25);
}

describe('stage timings', () => {
  it('are in the summary, in --json and in the Parquet ledger', async () => {
    const job = s.file(
      'parquet.yaml',
      `name: timings_pq
model: { path: model.onnx, features: [f0, f1, f2] }
source: { parquet: { path: data } }
key: [id]
batch_size: 1000
sink: { parquet: { path: "out/ds={{ ds }}" } }
`,
    );
    const r = await mlscale(['score', '--job', job, '--param', 'ds=2024-01-01', '--json', '--parallelism', '2'], {
      cwd: s.dir,
    });
    expect(errorLine(r)).toBe('');
    const result = JSON.parse(r.stdout) as { runId: string; durationMs: number; timings: Timings };
    checkTimings(result.timings, result.durationMs);
    // A three-weight model scores a chunk in microseconds: one worker keeps up, a second is not started.
    expect(result.timings.workers).toBe(1);
    // Parquet in and out: footers, row groups and parts are the Parquet thread's work.
    expect(result.timings.parquet_ms).toBeGreaterThan(0);
    // The ledger row is written by the publish itself: it holds every stage before it, as printed.
    const ledger = JSON.parse(
      readFileSync(path.join(s.dir, 'out', '_mlscale', 'runs', `${result.runId}.json`), 'utf8'),
    );
    for (const k of [
      'start_ms',
      'read_ms',
      'tensors_ms',
      'inference_ms',
      'stats_ms',
      'write_ms',
      'wait_ms',
      'workers',
    ] as const)
      expect(ledger.stats.timings[k], k).toBe(result.timings[k]);
    // Recorded as the run publishes, a little before it ends: no more CPU than the run's.
    expect(ledger.stats.timings.cpu_ms).toBeGreaterThan(0);
    expect(ledger.stats.timings.cpu_ms).toBeLessThanOrEqual(result.timings.cpu_ms);
    expect(ledger.stats.timings.publish_ms).toBe(0);

    const text = await mlscale(['score', '--job', job, '--param', 'ds=2024-01-02', '--parallelism', '2'], {
      cwd: s.dir,
    });
    expect(errorLine(text)).toBe('');
    expect(text.stdout).toMatch(
      /^ {2}time {9}first chunk at \d+\.\d\d s, read \d+\.\d\d s, tensors \d+\.\d\d s, stats \d+\.\d\d s, write \d+\.\d\d s, waiting for inference \d+\.\d\d s, publish \d+\.\d\d s, inference \d+\.\d\d s \(in 1 worker\), Parquet \d+\.\d\d s \(decoding and encoding, on its own thread\), CPU \d+\.\d\d s from the first chunk on \(\d+(\.\d+)? of \d+ cores busy\)$/m,
    );
  });

  it('run one stage at a time under MLSCALE_BENCH_SERIAL, so waiting covers inference', async () => {
    const job = path.join(s.dir, 'parquet.yaml');
    const r = await mlscale(['score', '--job', job, '--param', 'ds=2024-01-03', '--json'], {
      cwd: s.dir,
      env: { MLSCALE_BENCH_SERIAL: '1' },
    });
    expect(errorLine(r)).toBe('');
    const { timings } = JSON.parse(r.stdout) as { timings: Timings };
    // One chunk in flight: the main thread waits for every chunk's inference from start to end.
    expect(timings.wait_ms + 1).toBeGreaterThanOrEqual(timings.inference_ms);
    // Nothing decoded or encoded ahead: the Parquet thread worked only while the main thread waited
    // for it (footers before the first chunk, row groups in read, parts in write and publish).
    expect(timings.parquet_ms).toBeGreaterThan(0);
    expect(timings.parquet_ms).toBeLessThanOrEqual(
      timings.start_ms + timings.read_ms + timings.write_ms + timings.publish_ms + 5,
    );
  });

  describe.skipIf(skipPg)('Postgres', () => {
    let schema: { name: string; drop(): Promise<void> };
    beforeAll(async () => {
      schema = await tempSchema('timings');
      await query(
        `CREATE TABLE ${schema.name}.features AS SELECT g::bigint AS id, (g % 7)::real AS f0, (g % 11)::float8 AS f1, (g % 3)::int AS f2 FROM generate_series(1, 30000) g`,
      );
    });
    afterAll(async () => schema.drop());

    it('are in the ledger table, queryable with SQL', async () => {
      const job = s.file(
        'pg.yaml',
        `name: timings_pg
model: { path: model.onnx, features: [f0, f1, f2] }
source: { postgres: { url: "\${DATABASE_URL}", query: "select * from ${schema.name}.features" } }
key: [id]
sink: { postgres: { url: "\${DATABASE_URL}", table: ${schema.name}.scores } }
`,
      );
      const r = await mlscale(['score', '--job', job, '--json'], { cwd: s.dir, env });
      expect(errorLine(r)).toBe('');
      const result = JSON.parse(r.stdout) as {
        runId: string;
        durationMs: number;
        timings: Timings;
        rowsWritten: number;
      };
      expect(result.rowsWritten).toBe(30_000);
      checkTimings(result.timings, result.durationMs);
      // Postgres in and out: nothing for the Parquet thread to do.
      expect(result.timings.parquet_ms).toBe(0);
      const [row] = await query<{ read: number; inference: number }>(
        `SELECT (stats->'timings'->>'read_ms')::int AS read, (stats->'timings'->>'inference_ms')::int AS inference
           FROM ${schema.name}.mlscale_runs WHERE run_id = $1`,
        [result.runId],
      );
      expect(row).toEqual({ read: result.timings.read_ms, inference: result.timings.inference_ms });
    });
  });
});
