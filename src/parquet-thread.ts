import { Worker } from 'node:worker_threads';
import { TaskThread } from './task-thread.js';
import type { DecodeTask } from './source/parquet-decoder.js';
import type { EncodeTask } from './sink/parquet-encoder.js';
import type { FooterResult, FooterTask } from './source/parquet-footer.js';
import type { Job } from './config/job.js';

export type ParquetTask =
  | ({ kind: 'decode' } & DecodeTask)
  | ({ kind: 'encode' } & EncodeTask)
  | ({ kind: 'footers' } & FooterTask)
  | { kind: 'forget'; reader: string }
  | { kind: 'warm' };

// Under vitest this module runs from src/*.ts, but worker threads load plain JS: use the build.
// In the CLI's bundle (dist/mlscale.cjs) the worker is its bundle beside it (scripts/bundle.mjs).
function workerFile(): URL {
  const here = import.meta.url;
  if (here.endsWith('.ts')) return new URL('../dist/parquet-thread-worker.js', here);
  return new URL(/\.[cm]js$/.test(here) ? './parquet-thread-worker.mjs' : './parquet-thread-worker.js', here);
}

let thread: TaskThread | undefined;
let users = 0;
/** Tasks sent and not answered: the thread is ended only after them. */
const inFlight = new Set<Promise<unknown>>();

/** The Parquet thread's working time so far, over every task of this process (a run takes the difference). */
let busyMs = 0;

/** The thread's id while one is up (the CLI's early start, tested: the run works on the thread it started). */
export function parquetThreadId(): number | undefined {
  return thread && !thread.exited ? thread.worker.threadId : undefined;
}

export function parquetThreadBusyMs(): number {
  return busyMs;
}

const EARLY = Symbol.for('mlscale.parquet-thread');

/** The thread the CLI started before its bundle loaded (bin/mlscale.js), if it is still up; taken once. */
function takeEarlyThread(): Worker | undefined {
  const g = globalThis as { [EARLY]?: { worker: Worker; ended: boolean } };
  const early = g[EARLY];
  delete g[EARLY];
  if (early?.ended) void early.worker.terminate();
  return early && !early.ended ? early.worker : undefined;
}

/** Ends the thread the CLI started early for a job that turns out not to use it. */
export function dropEarlyParquetThread(): void {
  void takeEarlyThread()?.terminate();
}

function start(): TaskThread {
  if (thread && !thread.exited) return thread;
  const made: TaskThread = new TaskThread(takeEarlyThread() ?? new Worker(workerFile()), {
    // A decoder that trapped took its thread down: the task it was on failed with the trap,
    // the ones waiting go to a new thread.
    onExit: (waiting) => {
      if (thread === made) thread = undefined;
      if (waiting.length > 0) start().resubmit(waiting);
    },
  });
  thread = made;
  return made;
}

/**
 * Whether a run of `job` works on this thread: a local Parquet source, or a Parquet sink (objects
 * too) that will be written. An object-store source decodes on the main thread, so a dry run of
 * one would compile a second parquet-wasm for nothing (25 MB).
 */
export function usesParquetThread(job: Job, dryRun: boolean): boolean {
  return (job.source.kind === 'parquet' && job.source.s3 === undefined) || (!dryRun && job.sink.kind === 'parquet');
}

/** Starts the thread and compiles parquet-wasm in it now (a job that will read or write Parquet). */
export function warmParquetThread(): void {
  send({ kind: 'warm' }).catch(() => undefined);
}

/** Ends a thread that nothing has claimed and nothing is waiting on (warmed for a run that failed before it began). */
export async function stopParquetThreadIfUnused(): Promise<void> {
  if (users > 0 || inFlight.size > 0 || !thread) return;
  const t = thread;
  thread = undefined;
  await t.terminate();
}

function send(task: ParquetTask, transferList?: ArrayBuffer[]): Promise<unknown> {
  const p = (start().run(task, transferList) as Promise<{ ms: number; value: unknown }>).then((r) => {
    busyMs += r.ms;
    return r.value;
  });
  const settled: Promise<unknown> = p.then(
    (): unknown => inFlight.delete(settled),
    (): unknown => inFlight.delete(settled),
  );
  inFlight.add(settled);
  return p;
}

/**
 * Reads local files' footers on the Parquet thread, starting it (and compiling parquet-wasm in
 * it) while the run plans. It holds no claim on the thread, so the source that decodes next finds
 * it started; an idle thread does not keep the process alive.
 */
export function readFootersOnThread(files: readonly string[]): Promise<FooterResult[]> {
  return send({ kind: 'footers', files }) as Promise<FooterResult[]>;
}

/**
 * The one thread that decodes the source's row groups and encodes the sink's parts. One thread,
 * not one per job: parquet-wasm's memory grows to its largest task and never shrinks, and each
 * thread holds its own, so sharing it keeps peak memory down; both kinds of work overlap the main
 * thread's, which is what frees a core (README, Performance).
 */
export class ParquetThread {
  private open = false;

  run(task: ParquetTask, transferList?: ArrayBuffer[]): Promise<unknown> {
    this.claim();
    return send(task, transferList);
  }

  /**
   * Keeps the thread up until close() without sending it anything yet. A sink claims it when its
   * run begins: a run shorter than one part encodes only at publish, after the source has let the
   * thread go, and a new thread (started, parquet-wasm compiled again) cost about 0.3 s.
   */
  claim(): void {
    if (!this.open) {
      this.open = true;
      users++;
    }
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    if (--users > 0 || !thread) return;
    await Promise.all(inFlight);
    // Another user may have started while the last tasks finished.
    await stopParquetThreadIfUnused();
  }
}
