/** The checked, resolved job: built once at the edge by loadJob, frozen, never re-validated downstream. */
export interface Job {
  readonly name: string;
  readonly description?: string;
  /** Absolute path of the job file (or "<inline>"). */
  readonly file: string;
  readonly schedule?: string;
  readonly timezone: string;
  /** Every parameter after --param overrides, ds included. */
  readonly params: Readonly<Record<string, string>>;
  readonly ds: string;
  readonly model: ModelSpec;
  readonly source: SourceSpec;
  readonly key: readonly string[];
  readonly onNull: OnNull;
  readonly maxRejectRate: number;
  readonly batchSize: number;
  readonly parallelism: number;
  readonly sink: SinkSpec;
  readonly partition: string;
}

export interface ModelSpec {
  readonly path: string;
  readonly name: string;
  readonly version?: string;
  readonly features?: readonly string[];
  readonly outputs?: Readonly<Record<string, { readonly output: string; readonly column?: number }>>;
  readonly providers: readonly string[];
  readonly intraOpThreads: number;
}

export type OnNull = { readonly mode: 'error' } | { readonly mode: 'skip' } | { readonly mode: 'fill'; readonly value: string | number | boolean };

export type SourceSpec = { readonly kind: 'parquet'; readonly path: string };

export type SinkSpec =
  | { readonly kind: 'postgres'; readonly url: string; readonly schema: string; readonly table: string }
  | { readonly kind: 'parquet'; readonly path: string; readonly rowsPerFile: number; readonly compression: ParquetCompression };

export type ParquetCompression = 'zstd' | 'snappy' | 'gzip' | 'lz4' | 'uncompressed';

/** Overrides a user gives on the command line; they win over the job file. */
export interface JobOverrides {
  readonly params?: Readonly<Record<string, string>>;
  readonly batchSize?: number;
  readonly parallelism?: number;
}
