import { ParquetThread } from '../parquet-thread.js';

export interface DecodeTask {
  readonly file: string;
  /** The file's size and modification time when the run listed it: another file is refused. */
  readonly listed: { readonly size: number; readonly mtimeMs: number };
  readonly rowGroup: number;
  readonly batchSize: number;
  readonly columns: readonly string[] | undefined;
  /** Read the file whole (small files) rather than by byte ranges. */
  readonly inMemory: boolean;
  /** Rows of the row group to skip, and to read at most. */
  readonly offset?: number;
  readonly limit?: number;
}

/**
 * Decodes Parquet row groups on the Parquet thread (parquet-thread.ts), into Arrow IPC bytes the main thread
 * reads without copying. Decoding (decompression, page decoding in WebAssembly) was the largest
 * share of the main thread's time for a Parquet source; here it overlaps tensors, statistics and
 * writing (README, Performance). A decoder that traps on a damaged file ends its thread, not the
 * process: the row group's read fails with the decoder's message.
 */
export class ParquetDecoder {
  private readonly thread = new ParquetThread();

  /** One IPC stream for a file read whole, one per batch for one read by ranges. */
  decode(task: DecodeTask): Promise<Uint8Array | Uint8Array[]> {
    return this.thread.run({ kind: 'decode', ...task }) as Promise<Uint8Array | Uint8Array[]>;
  }

  close(): Promise<void> {
    return this.thread.close();
  }
}
