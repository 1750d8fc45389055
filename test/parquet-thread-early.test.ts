import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Table, makeVector } from 'apache-arrow';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  dropEarlyParquetThread,
  parquetThreadId,
  readFootersOnThread,
  stopParquetThreadIfUnused,
} from '../src/parquet-thread.js';
import { writeParquet } from './support/data.js';
import { scratchDir } from './support/job.js';
import { repoRoot } from './support/paths.js';

// bin/mlscale.js starts the Parquet thread before the CLI's bundle loads, for a score run whose
// job names Parquet, and leaves it under this symbol: the run's first task must go to that
// thread (not start a second one), a thread that already ended must not be used, and a job that
// does not use it ends it.
const EARLY = Symbol.for('mlscale.parquet-thread');
const g = globalThis as { [EARLY]?: { worker: Worker; ended: boolean } };
const s = scratchDir('parquet-early');
const file = path.join(s.dir, 'ids.parquet');
writeParquet(file, new Table({ id: makeVector(BigInt64Array.from({ length: 50 }, (_, i) => BigInt(i))) }), 20);

/** As bin/mlscale.js starts it. */
function startEarly() {
  const worker = new Worker(path.join(repoRoot, 'dist', 'parquet-thread-worker.js'));
  worker.unref();
  const early = { worker, ended: false };
  worker.on('error', () => (early.ended = true));
  worker.on('exit', () => (early.ended = true));
  g[EARLY] = early;
  return early;
}

const exited = (w: Worker) => new Promise<void>((resolve) => w.once('exit', () => resolve()));

afterEach(async () => {
  dropEarlyParquetThread();
  await stopParquetThreadIfUnused();
});
afterAll(() => s.remove());

describe('the Parquet thread started early by the CLI', () => {
  it('is the thread the first task runs on', async () => {
    const early = startEarly();
    const [footer] = await readFootersOnThread([file]);
    expect(footer).toMatchObject({ rowGroups: [20, 20, 10] });
    expect(parquetThreadId()).toBe(early.worker.threadId);
    expect(g[EARLY]).toBeUndefined();
  });

  it('is not used once it has ended: the task goes to a new thread', async () => {
    const early = startEarly();
    await early.worker.terminate();
    expect(early.ended).toBe(true);
    const [footer] = await readFootersOnThread([file]);
    expect(footer).toMatchObject({ rowGroups: [20, 20, 10] });
    expect(parquetThreadId()).not.toBe(early.worker.threadId);
    expect(parquetThreadId()).toBeDefined();
  });

  it('ends when the job turns out not to use it', async () => {
    const early = startEarly();
    const gone = exited(early.worker);
    dropEarlyParquetThread();
    await gone;
    expect(g[EARLY]).toBeUndefined();
    expect(parquetThreadId()).toBeUndefined();
  });
});
