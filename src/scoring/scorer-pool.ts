import { setTimeout as sleep } from 'node:timers/promises';
import { Piscina } from 'piscina';
import { RuntimeFailure, UsageError } from '../errors.js';
import { transferList, type WireOutput } from '../tensors/wire.js';
import type { CheckResult, CheckTask, Probe, ScoreResult, ScoreTask, WorkerInit } from './wire.js';

export interface PoolOptions {
  readonly threads: number;
  readonly models: WorkerInit['models'];
}

// Under vitest this module runs from src/*.ts, but worker threads load plain JS: use the build.
// In the CLI's bundle (dist/mlscale.mjs) the worker is its bundle beside it (scripts/bundle.mjs).
function workerFile(): URL {
  const here = import.meta.url;
  if (here.endsWith('.ts')) return new URL('../../dist/scoring/score-worker.js', here);
  return new URL(here.endsWith('.mjs') ? './score-worker.mjs' : './score-worker.js', here);
}

/**
 * `threads` workers, each holding its own onnxruntime session (session.run blocks its
 * thread, so parallel inference needs threads). Input buffers are moved, not copied.
 */
export class ScorerPool {
  private readonly pool: Piscina;
  /** Time the workers spent inside onnxruntime, summed over workers. */
  inferenceMs = 0;

  constructor(options: PoolOptions) {
    if (!Number.isInteger(options.threads) || options.threads < 1) {
      throw new RangeError(`scorer pool: threads must be a positive integer, got ${options.threads}`);
    }
    const { threads, models } = options;
    const init: WorkerInit = { models, started: new Int32Array(new SharedArrayBuffer(4)), settled: this.settled };
    this.threads = threads;
    this.pool = new Piscina({
      filename: workerFile().href,
      minThreads: threads,
      maxThreads: threads,
      // Backpressure lives in the pipeline (bounded in-flight chunks), so the queue is unbounded here.
      maxQueue: Infinity,
      concurrentTasksPerWorker: 1,
      // An idle piscina worker otherwise blocks its thread in Atomics.wait, and the session it
      // starts loading at start-up would wait for the first task: the planner's check waited
      // for onnxruntime to load, and the second worker's first chunk for its session.
      atomics: 'disabled',
      idleTimeout: Infinity,
      workerData: init,
    });
  }

  /** Scores one chunk; the chunk's buffers belong to the worker afterwards. */
  // No AbortSignal here: piscina kills a worker whose running task is aborted and then trips over
  // that worker's late reply. A chunk takes milliseconds; on failure close() ends the pool instead.
  async score(task: ScoreTask): Promise<WireOutput[]> {
    try {
      const r = (await this.pool.run(task, { transferList: transferList(task.feeds) })) as ScoreResult;
      this.inferenceMs += r.ms;
      return r.outputs;
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new RuntimeFailure(`scoring: chunk ${task.chunk} failed in onnxruntime (${msg.split('\n')[0]}).`, {
        code: 'score_failed',
        cause: err,
      });
    }
  }

  /**
   * Loads model `model` in a worker as scoring will (the planner's check: the main thread never
   * loads onnxruntime) and scores `probe` if given. Returns onnxruntime's warnings and the probe's
   * failure; a model that does not load throws the error its load gave, as a sentence.
   */
  async check(model: number, probe?: Probe): Promise<{ warnings: readonly string[]; probeError?: string }> {
    const r = (await this.pool.run({
      kind: 'check',
      model,
      ...(probe ? { probe } : {}),
    } satisfies CheckTask)) as CheckResult;
    if (r.loadError) {
      const { usage, code, message } = r.loadError;
      throw usage ? new UsageError(message, { code }) : new RuntimeFailure(message, { code });
    }
    return { warnings: r.warnings, ...(r.probeError !== undefined ? { probeError: r.probeError } : {}) };
  }

  private closed: Promise<void> | undefined;
  private readonly threads: number;
  /** Workers whose sessions have loaded (or failed to): see close(). */
  private readonly settled = new Int32Array(new SharedArrayBuffer(4));

  /**
   * Ends the workers; a second call waits for the first. Each worker loads its sessions as it
   * starts, and terminating a thread while onnxruntime creates a session aborts the whole
   * process (a run refused at its lock, or whose planning failed, ends its pool at once): so the
   * workers are ended once every one has loaded, or after a minute.
   */
  close(): Promise<void> {
    this.closed ??= (async () => {
      const deadline = Date.now() + 60_000;
      while (Atomics.load(this.settled, 0) < this.threads && Date.now() < deadline) await sleep(5);
      await this.pool.destroy();
    })();
    return this.closed;
  }
}
