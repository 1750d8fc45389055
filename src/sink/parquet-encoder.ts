import { ParquetThread } from '../parquet-thread.js';
import type { CODECS } from '../parquet-codecs.js';

export interface EncodeTask {
  /** The part as an Arrow IPC stream. */
  readonly ipc: Uint8Array;
  readonly codec: keyof typeof CODECS;
  /** Columns written without a dictionary. */
  readonly plainColumns: readonly string[];
}

/**
 * Encodes Parquet parts on the Parquet thread (parquet-thread.ts). Encoding a part of 262,144 rows takes about a
 * third of a second of parquet-wasm; on the main thread that time was taken from reading and
 * scoring, here it overlaps them (README, Performance).
 */
export class ParquetEncoder {
  private readonly thread = new ParquetThread();

  async encode(task: EncodeTask): Promise<Uint8Array> {
    return (await this.thread.run({ kind: 'encode', ...task }, [task.ipc.buffer as ArrayBuffer])) as Uint8Array;
  }

  close(): Promise<void> {
    return this.thread.close();
  }
}
