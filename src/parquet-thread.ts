import { Piscina } from 'piscina';
import type { DecodeTask } from './source/parquet-decoder.js';
import type { EncodeTask } from './sink/parquet-encoder.js';
import type { FooterResult, FooterTask } from './source/parquet-footer.js';

export type ParquetTask =
  ({ kind: 'decode' } & DecodeTask) | ({ kind: 'encode' } & EncodeTask) | ({ kind: 'footer' } & FooterTask);

// Under vitest this module runs from src/*.ts, but worker threads load plain JS: use the build.
// In the CLI's bundle (dist/mlscale.mjs) the worker is its bundle beside it (scripts/bundle.mjs).
function workerFile(): URL {
  const here = import.meta.url;
  if (here.endsWith('.ts')) return new URL('../dist/parquet-thread-worker.js', here);
  return new URL(here.endsWith('.mjs') ? './parquet-thread-worker.mjs' : './parquet-thread-worker.js', here);
}

let pool: Piscina | undefined;
let users = 0;
/** Tasks sent and not answered: the pool is destroyed only after them (piscina fails on a late reply). */
const inFlight = new Set<Promise<unknown>>();

/** The Parquet thread's working time so far, over every task of this process (a run takes the difference). */
let busyMs = 0;

export function parquetThreadBusyMs(): number {
  return busyMs;
}

function send(task: ParquetTask, transferList?: ArrayBuffer[]): Promise<unknown> {
  pool ??= new Piscina({ filename: workerFile().href, minThreads: 1, maxThreads: 1, idleTimeout: Infinity });
  const p = (pool.run(task, transferList ? { transferList } : {}) as Promise<{ ms: number; value: unknown }>).then(
    (r) => {
      busyMs += r.ms;
      return r.value;
    },
  );
  const settled: Promise<unknown> = p.then(
    (): unknown => inFlight.delete(settled),
    (): unknown => inFlight.delete(settled),
  );
  inFlight.add(settled);
  return p;
}

/**
 * Reads a local file's footer on the Parquet thread, starting it (and compiling parquet-wasm in
 * it) while the run plans. It holds no claim on the thread, so the source that decodes next finds
 * it started; an idle thread does not keep the process alive (piscina unrefs it).
 */
export function readFooterOnThread(file: string): Promise<FooterResult> {
  return send({ kind: 'footer', file }) as Promise<FooterResult>;
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
    if (--users > 0 || !pool) return;
    await Promise.all(inFlight);
    // Another user may have started while the last tasks finished.
    if (users > 0 || !pool) return;
    const p = pool;
    pool = undefined;
    await p.destroy();
  }
}
