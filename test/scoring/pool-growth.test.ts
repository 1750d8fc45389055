import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { busyEnough, ScorerPool, type PoolOptions } from '../../src/scoring/scorer-pool.js';
import { threadCpuMs } from '../../src/scoring/thread-cpu.js';
import type { ScoreTask } from '../../src/scoring/wire.js';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { treeEnsembleModel } from '../../scripts/lib/onnx-builder.mjs';

const FEATURES = 32;
const model = {
  modelBytes: treeEnsembleModel({ features: FEATURES, trees: 100, depth: 6, seed: 2 }) as Uint8Array,
  modelFile: 'trees.onnx',
  providers: ['cpu'],
  intraOpThreads: 1,
};

function task(chunk: number, rows: number): ScoreTask {
  const data = new Float32Array(rows * FEATURES).map((_, i) => (i % 97) / 97);
  return {
    chunk,
    model: 0,
    feeds: [{ input: 'X', type: 'float32', dims: [rows, FEATURES], data }],
    fetch: ['y'],
    rowByRow: false,
  };
}

/** Runs `body` with a pool made from `options`, and closes the pool after. */
async function withPool(options: PoolOptions, body: (pool: ScorerPool) => Promise<void>): Promise<void> {
  const pool = new ScorerPool(options);
  try {
    await body(pool);
  } finally {
    await pool.close();
  }
}

/** Scores `chunks` chunks of `rows`, always four waiting: the workers score without a pause. */
async function keepBusy(pool: ScorerPool, chunks: number, rows = 16_384): Promise<void> {
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < chunks; i++) {
    inFlight.push(pool.score(task(i, rows)));
    if (inFlight.length >= 4) await inFlight.shift();
  }
  await Promise.all(inFlight);
}

// The workers run at the process's priority here (they lower theirs in production, to yield to
// the main thread): this file runs alone (vitest.config.ts), and stray load should not starve them.
process.env.MLSCALE_WORKER_NICE = '0';

// A pool may have `threads` workers; it starts the second one only when the first is kept busy.
// A worker more where one keeps up only takes a core from the main thread (and holds a session's
// memory): an MLP at parallelism 2 ran slower than at 1 with both started.
describe('the scoring pool', () => {
  it('stays at one worker while that worker keeps up', async () => {
    await withPool({ threads: 2, models: [model] }, async (pool) => {
      // Small chunks, one at a time, with the main thread's share of the work (here a pause)
      // between them: the worker is idle most of the time.
      for (let i = 0; i < 24; i++) {
        await pool.score(task(i, 64));
        await sleep(10);
      }
      expect(pool.workers).toBe(1);
    });
  });

  it('starts a second worker when the first is never idle, and scores on both', async () => {
    await withPool({ threads: 2, models: [model] }, async (pool) => {
      await keepBusy(pool, 24);
      expect(pool.workers).toBe(2);
      // The second worker takes chunks once its session has loaded.
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => pool.score(task(100 + i, 16_384))));
      expect(answers.every((a) => a[0]!.dims[0] === 16_384)).toBe(true);
      await keepBusy(pool, 16);
      expect(pool.scored[1]).toBeGreaterThan(0);
    });
  });

  it('gives no chunk to a worker still loading its model: the loaded one goes on', async () => {
    // A forest that takes about a second to load, and chunks of a few tens of milliseconds.
    const slow = { ...model, modelBytes: treeEnsembleModel({ features: FEATURES, trees: 300, depth: 10, seed: 4 }) };
    await withPool({ threads: 2, models: [slow] }, async (pool) => {
      for (let i = 0; pool.workers < 2 && i < 64; i++) await keepBusy(pool, 4, 2048);
      expect(pool.workers).toBe(2);
      // Started with its model and loading it now: the next chunks go to the first worker.
      await keepBusy(pool, 4, 2048);
      expect(pool.scored[1]).toBe(0);
    });
  });

  it('starts no worker for the last chunks of a run', async () => {
    // A forest that takes about a second to load: the chunks in hand are a fraction of that.
    const slow = { ...model, modelBytes: treeEnsembleModel({ features: FEATURES, trees: 300, depth: 10, seed: 4 }) };
    await withPool({ threads: 2, models: [slow] }, async (pool) => {
      // Busy, but the run says no task comes after those given: a new worker would only load.
      pool.expectTasks(0);
      await keepBusy(pool, 24, 2048);
      expect(pool.workers).toBe(1);
      // Told nothing (a source that does not know its rows, and no limit), it grows.
      pool.expectTasks(undefined);
      for (let i = 0; pool.workers < 2 && i < 64; i++) await keepBusy(pool, 4, 2048);
      expect(pool.workers).toBe(2);
    });
  });

  it('drops a worker it grew whose model fails to load, and scores on with the first', async () => {
    const bytes = new Uint8Array(model.modelBytes);
    const warnings: string[] = [];
    await withPool({ threads: 2, models: [{ ...model, modelBytes: bytes }] }, async (pool) => {
      pool.onWarning = (m) => warnings.push(m);
      await pool.score(task(0, 64));
      // The models are copied into each worker as it starts: the one grown next gets bytes that
      // onnxruntime cannot parse, as a load that fails for want of memory would fail.
      bytes.fill(0);
      for (let i = 0; warnings.length === 0 && i < 64; i++) await keepBusy(pool, 4);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(
        /^scoring: a worker started to share the load could not load the models, so the run goes on with 1 worker \(model: .+\)\.$/,
      );
      expect(pool.workers).toBe(1);
      // Every chunk after it is scored, all by the first worker.
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => pool.score(task(100 + i, 4096))));
      expect(answers.every((a) => a[0]!.dims[0] === 4096)).toBe(true);
      expect(pool.scored[1]).toBe(0);
    });
  });

  it('never starts more workers than its threads', async () => {
    await withPool({ threads: 1, models: [model] }, async (pool) => {
      await keepBusy(pool, 16);
      expect(pool.workers).toBe(1);
    });
  });

  it('starts every worker at once when eager', async () => {
    await withPool({ threads: 3, eager: true, models: [model] }, async (pool) => {
      expect(pool.workers).toBe(3);
      await pool.score(task(0, 64));
    });
  });

  it('grows on work that waits for its workers while they are on a core, not while they wait for one', () => {
    // A window of 200 ms on one worker.
    expect(busyEnough({ spanMs: 200, busyMs: 190, cpuMs: 180 })).toBe(true);
    // Idle between chunks: the worker keeps up.
    expect(busyEnough({ spanMs: 200, busyMs: 100, cpuMs: 100 })).toBe(false);
    // Scoring by the clock, but off the core most of it (lower priority, cores held by the
    // main and Parquet threads): a second worker would wait as well.
    expect(busyEnough({ spanMs: 200, busyMs: 190, cpuMs: 30 })).toBe(false);
    // Where a thread's CPU time is not known, the clock decides.
    expect(busyEnough({ spanMs: 200, busyMs: 190, cpuMs: undefined })).toBe(true);
  });
});

describe.runIf(process.platform === 'linux')("a thread's CPU time", () => {
  it('counts the time it computes, not the time it sleeps', async () => {
    const before = threadCpuMs()!;
    await sleep(100);
    const slept = threadCpuMs()! - before;
    const wall = performance.now();
    const start = threadCpuMs()!;
    while (threadCpuMs()! - start < 50);
    expect(slept).toBeLessThan(20);
    // A thread's CPU cannot outrun the wall clock; the two clocks tick apart by a few
    // microseconds (a CI run measured 49.98 ms of wall for 50 ms of CPU), so a millisecond is allowed.
    expect(performance.now() - wall).toBeGreaterThanOrEqual(49);
  });
});
