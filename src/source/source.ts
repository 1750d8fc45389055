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
  close(): Promise<void>;
}
