import { tableToIPC, type Table } from 'apache-arrow';
import type { ParquetCompression } from '../config/job.js';
import { RuntimeFailure } from '../errors.js';
import { ParquetThread } from '../parquet-thread.js';
import type { SinkLayout } from './sink.js';
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

  /** Part `part` of a sink's output as Parquet bytes: keys and scores without a dictionary. */
  async encodePart(table: Table, layout: SinkLayout, codec: ParquetCompression, part: number): Promise<Uint8Array> {
    const plainColumns = [...layout.keyFields.map((f) => f.name), ...layout.outputs.map((o) => o.column)];
    try {
      return await this.encode({ ipc: tableToIPC(table, 'stream'), codec, plainColumns });
    } catch (err) {
      throw new RuntimeFailure(`sink: cannot encode Parquet part ${part} (${(err as Error).message}).`, {
        code: 'sink_encode',
        cause: err,
      });
    }
  }

  /** Keeps the Parquet thread up from now until close() (ParquetThread.claim). */
  claim(): void {
    this.thread.claim();
  }

  close(): Promise<void> {
    return this.thread.close();
  }
}
