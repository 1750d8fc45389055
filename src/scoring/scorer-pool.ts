import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { RuntimeFailure, UsageError } from '../errors.js';
import { freeBuffers } from '../free-buffers.js';
import { TaskThread, type Queued } from '../task-thread.js';
import { transferList, type WireOutput } from '../tensors/wire.js';
import type {
  CheckResult,
  CheckTask,
  FromWorker,
  Probe,
  ScoreResult,
  ScoreTask,
  ToWorker,
  WorkerInit,
  WorkerModel,
} from './wire.js';

export interface PoolOptions {
  /** Workers; 1 where the models are not given yet (a pool started ahead of its job). */
  readonly threads?: number;
  /** The models every worker holds a session for; or later, with load(). */
  readonly models?: readonly WorkerModel[];
  /** Start every worker now, not when the ones started are kept busy (growWhenBusy). */
  readonly eager?: boolean;
}

/**
 * The pool starts another worker when, over a window of chunks, the started ones were scoring
 * more than GROW_BUSY of the time (work always waited for them) and, where the platform tells a
 * thread's CPU time, were on a core for more than GROW_CPU of it. Below the first they keep up
 * with the main thread, and one more would only take a core from it (an MLP at parallelism 2 ran
 * 2-5% slower than at 1 with both started). Busy but off the core, they are waiting for the cores
 * the main and Parquet threads hold (the workers run at a lower priority): one more would wait
 * too (an MLP over 10M rows: as fast with two as with one, and 25 MB more).
 */
const GROW_BUSY = 0.75;
const GROW_CPU = 0.4;
/**
 * Chunks a window holds before the pool judges it (the first chunk includes session warm-up),
 * or two if they took GROW_AFTER_MS: a model that takes a quarter of a second a chunk would
 * otherwise wait a second to start its second worker.
 */
const GROW_AFTER = 4;
const GROW_AFTER_MS = 150;

// Under vitest this module runs from src/*.ts, but worker threads load plain JS: use the build.
// In the CLI's bundle (dist/mlscale.cjs) the worker is its bundle beside it (scripts/bundle.mjs).
function workerFile(): URL {
  const here = import.meta.url;
  if (here.endsWith('.ts')) return new URL('../../dist/scoring/score-worker.js', here);
  return new URL(/\.[cm]js$/.test(here) ? './score-worker.mjs' : './score-worker.js', here);
}

interface Slot {
  readonly thread: TaskThread;
  /** Its sessions have loaded (or failed): it may be ended now, and takes chunks (FromWorker 'settled'). */
  settled: boolean;
  /** When it began loading the models it has (started with them, or sent them). */
  loading: number;
  /** Chunks it has scored. */
  scored: number;
  /** A model failed to load in it: it takes no chunk while a worker that loaded them is there. */
  failed: boolean;
}

/** Pools not closed yet: closeScorerPools() ends them before the process exits on its own. */
const open = new Set<ScorerPool>();

/**
 * Closes every pool not closed yet, as close() does (a worker's chunks are scored first): for the
 * paths that end the process with process.exit (a closed stdout or stderr), which would terminate
 * a worker inside onnxruntime's run and abort the process (exit 134) instead of exiting 1.
 */
export async function closeScorerPools(): Promise<void> {
  await Promise.all([...open].map((p) => p.close()));
}

/**
 * `threads` worker threads, each holding its own onnxruntime session per model (session.run
 * blocks its thread, so parallel inference needs threads). Input buffers are moved, not copied.
 *
 * A pool can start before its job is read, with one worker (the score command's): that worker
 * loads onnxruntime while the main thread reads the job and the models, and load() then hands it
 * the models and starts the rest. Its own threads rather than piscina's: piscina fixes a worker's data and the
 * pool's size when the pool is made.
 */
export class ScorerPool {
  /** Time the workers spent inside onnxruntime, summed over workers. */
  inferenceMs = 0;
  private readonly slots: Slot[] = [];
  private readonly queue: Queued[] = [];
  private readonly started = new Int32Array(new SharedArrayBuffer(4));
  private models: readonly WorkerModel[] | undefined;
  private closed: Promise<void> | undefined;
  /** The most workers this pool starts. */
  private limit = 1;
  private readonly eager: boolean;
  /** Scoring time, wall and CPU, of the chunks answered since `since` (growWhenBusy). */
  private window = newWindow();
  /** The longest a worker took to load the models so far: what starting another costs. */
  private loadMs = 0;
  /** Tasks the run has still to submit after those given, where it knows (expectTasks). */
  private tasksLeft: number | undefined;
  /** Told when a worker is dropped (a warning for the run's log). */
  onWarning: ((message: string) => void) | undefined;

  constructor(options: PoolOptions = {}) {
    const threads = checkThreads(options.threads ?? 1);
    this.eager = options.eager ?? false;
    open.add(this);
    if (options.models) this.load(options.models, threads);
    else this.spawn();
  }

  /**
   * Gives the workers their models; the pool may grow to `threads` workers, all at once when
   * eager, else one at a time as the started ones are kept busy (growWhenBusy). Once per pool.
   */
  load(models: readonly WorkerModel[], threads: number): this {
    checkThreads(threads);
    if (this.models) throw new Error('scorer pool: models are given once');
    this.models = models;
    this.limit = threads;
    for (const slot of this.slots) {
      slot.settled = slot.thread.exited;
      slot.loading = performance.now();
      slot.thread.post({ kind: 'models', models } satisfies ToWorker);
    }
    while (this.slots.length < (this.eager ? threads : 1)) this.spawn();
    this.dispatch();
    return this;
  }

  /** Workers started so far (those that stopped included), less those dropped because their models failed to load. */
  get workers(): number {
    return this.slots.filter((s) => !s.failed).length;
  }

  /** Chunks each worker has scored, in the order they started. */
  get scored(): readonly number[] {
    return this.slots.map((s) => s.scored);
  }

  /**
   * How many tasks (a chunk scored with one model) the run will still submit after those given
   * so far, where it knows (undefined: it does not): the pool starts no worker that would load
   * for longer than the work left to share with it.
   */
  expectTasks(left: number | undefined): void {
    this.tasksLeft = left;
  }

  /** Scores one chunk; the chunk's buffers belong to the worker afterwards. */
  // No AbortSignal here: a chunk takes milliseconds; on failure close() ends the pool instead.
  async score(task: ScoreTask): Promise<WireOutput[]> {
    try {
      const r = (await this.run(task, transferList(task.feeds))) as ScoreResult;
      // The chunk's tensors, back from the worker: a megabyte or more each, read by no one now.
      freeBuffers(r.spent);
      this.inferenceMs += r.ms;
      this.growWhenBusy(r.ms, r.cpuMs);
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
    let r: CheckResult;
    try {
      r = (await this.run({ kind: 'check', model, ...(probe ? { probe } : {}) }, [])) as CheckResult;
    } catch (err) {
      // Not the model's error (that is in the result): the worker itself stopped.
      const msg = err instanceof Error ? err.message : String(err);
      throw new RuntimeFailure(
        `scoring: the worker loading the model stopped (${msg.split('\n')[0]}); nothing was published. Check the machine's free memory and run again.`,
        { code: 'worker_stopped', cause: err },
      );
    }
    if (r.loadError) {
      const { usage, code, message } = r.loadError;
      throw usage ? new UsageError(message, { code }) : new RuntimeFailure(message, { code });
    }
    return { warnings: r.warnings, ...(r.probeError !== undefined ? { probeError: r.probeError } : {}) };
  }

  /**
   * Ends the workers; a second call waits for the first. Terminating a thread while onnxruntime
   * loads a session or runs one aborts the whole process ("terminate called after throwing an
   * instance of 'Napi::Error'"): a run refused at its lock, or whose planning failed, ends its pool
   * at once, and a failed run may end it with chunks in its workers. So the tasks not yet handed
   * to a worker are failed, and each worker is ended once it has settled and scored the chunks it
   * holds (two at most), or after a minute.
   */
  close(): Promise<void> {
    open.delete(this);
    this.closed ??= (async () => {
      for (const q of this.queue.splice(0)) q.reject(new Error('the scoring pool was closed'));
      const deadline = Date.now() + 60_000;
      const working = (s: Slot) => !s.thread.exited && (!s.settled || s.thread.busy);
      while (this.slots.some(working) && Date.now() < deadline) await sleep(5);
      await Promise.all(this.slots.map((s) => s.thread.terminate()));
    })();
    return this.closed;
  }

  private run(task: ScoreTask | CheckTask, transfer: ArrayBuffer[]): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('the scoring pool was closed'));
    if (!this.models) return Promise.reject(new Error('scorer pool: no models loaded'));
    return new Promise((resolve, reject) => {
      this.queue.push({ task, transfer, resolve, reject });
      this.dispatch();
    });
  }

  /** Hands queued tasks to idle workers, the first ones first (the first keeps its priority longest). */
  private dispatch(): void {
    while (this.queue.length > 0) {
      if (this.slots.every((s) => s.thread.exited)) {
        for (const q of this.queue.splice(0)) q.reject(new Error('every scoring worker has stopped'));
        return;
      }
      // With two workers or more, each takes a second chunk once every one has one: it is posted
      // ahead, so the worker starts it as soon as the first is scored instead of waiting for this
      // thread to see the answer (trees at parallelism 2: 2-8% faster). One worker takes one: with
      // a second posted it ran 6% slower, sharing the cores with the main and Parquet threads.
      // A worker still loading its models would hold its chunks for the whole load, and the
      // chunks after them, written in order, would wait too: it takes chunks once loaded
      // (dispatch runs again when it settles), unless none has loaded yet.
      // A worker whose models failed to load takes chunks only where no other can (they fail with its error).
      const live = this.slots.filter((s) => !s.thread.exited);
      const healthy = live.filter((s) => !s.failed);
      const ready = healthy.filter((s) => s.settled);
      const takers = ready.length > 0 ? ready : healthy.length > 0 ? healthy : live;
      const perWorker = takers.length > 1 ? 2 : 1;
      const slot = takers.find((s) => !s.thread.busy) ?? takers.find((s) => s.thread.pending < perWorker);
      if (!slot) return;
      const q = this.queue.shift()!;
      slot.thread.run(q.task, q.transfer).then(
        (v) => {
          slot.scored++;
          q.resolve(v);
          this.dispatch();
        },
        (err: Error) => {
          q.reject(err);
          this.dispatch();
        },
      );
    }
  }

  /**
   * Starts one more worker (up to the limit) when the started ones were kept busy over a window
   * of GROW_AFTER chunks or more, or two over GROW_AFTER_MS (GROW_BUSY, GROW_CPU), chunks are waiting, and the work left
   * (where the run knows it) would keep them busy for longer than twice a worker's load: a worker
   * started near the end only loads, and the run waits for its load to end before it exits. A new
   * window begins after each growth, and every 16 chunks otherwise.
   */
  private growWhenBusy(ms: number, cpuMs: number | undefined): void {
    const live = this.slots.filter((s) => !s.thread.exited).length;
    if (this.closed || this.slots.length >= this.limit || live === 0) return;
    const now = performance.now();
    const w = this.window;
    if (w.chunks === 0) w.since = now - ms;
    w.busyMs += ms;
    w.cpuMs = w.cpuMs === undefined || cpuMs === undefined ? undefined : w.cpuMs + cpuMs;
    w.chunks++;
    if (w.chunks < GROW_AFTER && (w.chunks < 2 || now - w.since < GROW_AFTER_MS)) return;
    // Tasks given and not yet answered (chunks waiting), and those to come.
    const inPool = this.queue.length + this.slots.reduce((n, s) => n + s.thread.pending, 0);
    const workLeftMs =
      this.tasksLeft === undefined ? Infinity : ((this.tasksLeft + inPool) * w.busyMs) / w.chunks / live;
    const grow =
      inPool > 0 &&
      workLeftMs > 2 * this.loadMs &&
      busyEnough({ spanMs: Math.max(1, (now - w.since) * live), busyMs: w.busyMs, cpuMs: w.cpuMs });
    if (grow) this.spawn();
    if (grow || w.chunks >= 16) this.window = newWindow();
  }

  private spawn(): void {
    const init: WorkerInit = { ...(this.models ? { models: this.models } : {}), started: this.started };
    const thread = new TaskThread(new Worker(workerFile(), { workerData: init }), {
      // A worker that stops fails every task it was given (onExit below): none is handed on.
      postBuffersAhead: true,
      onMessage: (msg) => {
        const m = msg as FromWorker;
        // Models are sent to every worker once given: one that settled before they came is loading them now.
        if (m.kind === 'settled' && (m.withModels || !this.models)) {
          slot.settled = true;
          if (this.models) this.loadMs = Math.max(this.loadMs, performance.now() - slot.loading);
          if (m.loadError !== undefined) this.fail(slot, m.loadError);
          this.dispatch();
        }
      },
      onExit: (waiting, err) => {
        slot.settled = true;
        for (const q of waiting) q.reject(err);
        this.dispatch();
      },
    });
    const slot: Slot = { thread, settled: false, loading: performance.now(), scored: 0, failed: false };
    this.slots.push(slot);
  }

  /**
   * A worker whose models failed to load where another's loaded (memory short when it started,
   * say) is dropped and the run goes on with the others: at parallelism 1 the run would not have
   * needed it. Where none loaded, or it holds tasks (given ahead while every worker was loading, in
   * an eager pool), it stays, and those tasks fail with its error.
   */
  private fail(slot: Slot, loadError: string): void {
    slot.failed = true;
    if (slot.thread.pending > 0 || !this.slots.some((s) => s !== slot && !s.failed && !s.thread.exited)) return;
    const left = this.workers;
    this.onWarning?.(
      `scoring: a worker started to share the load could not load the models, so the run goes on with ${left} ${left === 1 ? 'worker' : 'workers'} (${loadError.replace(/\.$/, '')}).`,
    );
    void slot.thread.terminate();
  }
}

/**
 * Whether workers that scored for `busyMs` (on a core for `cpuMs`, where known) of `spanMs` (a
 * window's length times the workers) were kept busy enough to start another (GROW_BUSY, GROW_CPU).
 */
export function busyEnough(w: { spanMs: number; busyMs: number; cpuMs: number | undefined }): boolean {
  return w.busyMs / w.spanMs > GROW_BUSY && (w.cpuMs === undefined || w.cpuMs / w.spanMs > GROW_CPU);
}

function newWindow(): { since: number; busyMs: number; cpuMs: number | undefined; chunks: number } {
  return { since: 0, busyMs: 0, cpuMs: 0, chunks: 0 };
}

function checkThreads(threads: number): number {
  if (!Number.isInteger(threads) || threads < 1)
    throw new RangeError(`scorer pool: threads must be a positive integer, got ${threads}`);
  return threads;
}
