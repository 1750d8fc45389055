import { ParquetThread } from '../parquet-thread.js';
import type { Decoded } from './parquet-decode.js';

export interface DecodeTask {
  readonly file: string;
  /** The file's size and modification time when the run listed it: another file is refused. */
  readonly listed: { readonly size: number; readonly mtimeMs: number };
  readonly rowGroup: number;
  readonly batchSize: number;
  readonly columns: readonly string[] | undefined;
  /** Read the file whole (small files) rather than by byte ranges. */
  readonly inMemory: boolean;
  /** Rows of the row group to skip: where this slice starts. */
  readonly offset?: number;
  /** Which source (one run's read) asks: a row group read by ranges stays open for it. */
  readonly reader?: string;
  /** Batches to decode at most; undefined: to the end of the row group. */
  readonly batches?: number;
  /**
   * Read only this task's rows, and let the row group go after: where the file has a page index
   * the reader fetches only the pages they are in (the first batch of a run: 18 MB of a 131,072-row
   * group's 25 MB, decoded in half the time), where it has none, the whole column chunks.
   */
  readonly alone?: boolean;
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
  decode(task: DecodeTask): Promise<Decoded> {
    return this.thread.run({ kind: 'decode', ...task }) as Promise<Decoded>;
  }

  /** The thread lets go of the row groups it holds open for `reader`, when it stops reading. */
  forget(reader: string): Promise<void> {
    return this.thread.run({ kind: 'forget', reader }) as Promise<void>;
  }

  close(): Promise<void> {
    return this.thread.close();
  }
}
