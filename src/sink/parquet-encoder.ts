import { Piscina } from 'piscina';
import type { CODECS } from '../parquet-codecs.js';

export interface EncodeTask {
  /** The part as an Arrow IPC stream. */
  readonly ipc: Uint8Array;
  readonly codec: keyof typeof CODECS;
  /** Columns written without a dictionary. */
  readonly plainColumns: readonly string[];
}

// Under vitest this module runs from src/*.ts, but worker threads load plain JS: use the build.
// In the CLI's bundle (dist/mlscale.mjs) the worker is its bundle beside it (scripts/bundle.mjs).
function workerFile(): URL {
  const here = import.meta.url;
  if (here.endsWith('.ts')) return new URL('../../dist/sink/parquet-encode-worker.js', here);
  return new URL(here.endsWith('.mjs') ? './parquet-encode-worker.mjs' : './parquet-encode-worker.js', here);
}

/**
 * Encodes Parquet parts on a thread of their own. Encoding a part of 262,144 rows takes about a
 * third of a second of parquet-wasm; on the main thread that time was taken from reading and
 * scoring, here it overlaps them (README, Performance).
 */
export class ParquetEncoder {
  private pool: Piscina | undefined;

  async encode(task: EncodeTask): Promise<Uint8Array> {
    this.pool ??= new Piscina({ filename: workerFile().href, minThreads: 1, maxThreads: 1, idleTimeout: Infinity });
    return (await this.pool.run(task, { transferList: [task.ipc.buffer as ArrayBuffer] })) as Uint8Array;
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
    this.pool = undefined;
  }
}
