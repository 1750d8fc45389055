import type { S3Options } from '../s3/credentials.js';

/** The checked, resolved job: built once at the edge by loadJob, frozen, never re-validated downstream. */
export interface Job {
  readonly name: string;
  readonly description?: string;
  /** Absolute path of the job file (or "<inline>"). */
  readonly file: string;
  readonly schedule?: string;
  /** Missed intervals `mlscale schedule` runs after a restart. */
  readonly catchup: number;
  readonly timezone: string;
  /** Every parameter after --param overrides, ds included. */
  readonly params: Readonly<Record<string, string>>;
  /** The parameters as the ledger records them: values from the environment as their ${NAME}, passwords hidden. */
  readonly recordedParams: Readonly<Record<string, string>>;
  readonly ds: string;
  /** One model, or several combined per `combine`. */
  readonly models: readonly ModelSpec[];
  readonly combine: Combine;
  /** Models scored beside the champion, each into its own table or tree. */
  readonly challengers: readonly ChallengerSpec[];
  readonly source: SourceSpec;
  readonly key: readonly string[];
  readonly onNull: OnNull;
  /** Per-feature overrides of onNull. */
  readonly onNullFeatures: Readonly<Record<string, OnNull>>;
  readonly maxRejectRate: number;
  /** A run that writes no rows may replace a partition that holds rows. */
  readonly allowEmpty: boolean;
  /** Where rejected rows are written: a table beside a Postgres sink, or the root of a Parquet rejects tree (absolute). */
  readonly rejects?: { readonly schema: string; readonly table: string } | { readonly dir: string };
  /** Drift check against a baseline run; undefined: off. */
  readonly monitor?: { readonly baseline: string; readonly maxPsi: number; readonly onDrift: 'warn' | 'fail' };
  /** Where the true outcomes arrive, for `mlscale evaluate`; undefined: the job is not evaluated. */
  readonly labels?: LabelsSpec;
  readonly evaluation: Evaluation;
  /** Bounds on evaluated metrics (monitor.min_roc_auc, …): `evaluate` exits 3 past one. */
  readonly qualityGates: readonly QualityGate[];
  readonly batchSize: number;
  readonly parallelism: number;
  readonly sink: SinkSpec;
  readonly partition: string;
  readonly shard: Shard;
  /** Commit progress about every this many rows so a failed run can be resumed; undefined: off. */
  readonly checkpointRows?: number;
  /** Attempts after a transient failure (dropped connection, server restart). */
  readonly retries: number;
  readonly retryBackoffSeconds: number;
}

export interface ChallengerSpec {
  readonly model: ModelSpec;
  /** The job name its runs are recorded and locked under: the job's name + _challenger_ + its name. */
  readonly job: string;
  readonly sink: SinkSpec;
  /** Its failure fails `mlscale score` (after the champion has published). */
  readonly required: boolean;
}

export interface LabelsSpec {
  readonly source: SourceSpec;
  readonly column: string;
  /** The labels' key columns, matched in order with the job's key. */
  readonly key: readonly string[];
  readonly knownAt?: string;
}

export interface Evaluation {
  readonly threshold: number;
  readonly task: 'auto' | 'binary' | 'regression';
  /** Cron of `mlscale schedule`'s evaluations; undefined: not scheduled. */
  readonly schedule?: string;
  readonly lagDays: number;
}

export interface QualityGate {
  /** The job file's key, for messages: min_roc_auc. */
  readonly key: string;
  readonly metric: string;
  readonly bound: 'min' | 'max';
  readonly value: number;
}

export interface ModelSpec {
  readonly path: string;
  readonly name: string;
  readonly version?: string;
  readonly features?: readonly string[];
  /** Model input name → source columns, for inputs not named like a column. */
  readonly inputs?: Readonly<Record<string, readonly string[]>>;
  readonly outputs?: Readonly<Record<string, { readonly output: string; readonly column?: number }>>;
  readonly providers: readonly string[];
  readonly intraOpThreads: number;
  /** Weight under combine: weighted (1 otherwise). */
  readonly weight: number;
}

/** How several models make one prediction; `single` for a job with one model. */
export type Combine =
  | { readonly mode: 'single' }
  | { readonly mode: 'mean' }
  | { readonly mode: 'weighted' }
  | {
      readonly mode: 'route';
      readonly by: string;
      /** route_by value → index into models. */
      readonly routes: Readonly<Record<string, number>>;
      readonly defaultModel?: number;
    };

export type OnNull =
  | { readonly mode: 'error' }
  | { readonly mode: 'skip' }
  | { readonly mode: 'fill'; readonly value: string | number | boolean };

export type SourceSpec =
  | { readonly kind: 'parquet'; readonly path: string; readonly s3?: S3Options }
  | { readonly kind: 'postgres'; readonly url: string; readonly query: string };

/** This process's part of the input: shard `index` of `count` (0 of 1 when not sharded). */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

export type SinkSpec =
  | {
      readonly kind: 'postgres';
      readonly url: string;
      readonly schema: string;
      readonly table: string;
      /** lock_timeout of each request for a lock readers could queue behind (default 2 s). */
      readonly lockTimeoutMs?: number;
    }
  | {
      readonly kind: 'parquet';
      /** The partition directory a run replaces. */
      readonly path: string;
      /** What every path the sink touches stays inside: sink.parquet.path up to its first template. */
      readonly root: string;
      readonly rowsPerFile: number;
      readonly compression: ParquetCompression;
      /** Endpoint, region and addressing of an s3:// path (set only for one). */
      readonly s3?: S3Options;
    };

export type ParquetCompression = 'zstd' | 'snappy' | 'gzip' | 'lz4' | 'uncompressed';

/** Overrides a user gives on the command line; they win over the job file. */
export interface JobOverrides {
  readonly params?: Readonly<Record<string, string>>;
  readonly batchSize?: number;
  readonly parallelism?: number;
  readonly shard?: Shard;
}
