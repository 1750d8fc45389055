import type { RecordBatch, Schema } from 'apache-arrow';

/** A streaming source of Arrow record batches of at most batchSize rows. */
export interface Source {
  /** Columns as the source declares them (before any row is read). */
  readonly schema: Schema;
  /** Rows the source will yield when known up front (Parquet footers), for progress and ETA. */
  readonly totalRows: number | undefined;
  /** Human description for logs and the summary. */
  readonly description: string;
  /** What the source reads, as a fingerprint: a resumed run must read exactly what its first part read. */
  readonly identity: string;
  batches(signal?: AbortSignal): AsyncIterable<RecordBatch>;
  /**
   * Starts reading what batches() yields first, where reading has no effect outside this process
   * (local files): the run calls it before it holds its lock, so the first row group decodes while
   * the workers load. A query is never started early: a duplicate run must not run it at all.
   */
  warm?(): void;
  close(): Promise<void>;
}
