// What a run records about its data: stored in the ledger, read by drift checks and the report.
// Every field added since the first release is optional, so ledger rows written before it stay readable.

/**
 * Bin counts over `edges` (one more edge than counts). Since histograms became mergeable, the
 * edges are whole multiples of one power-of-two width (see grid.ts), so histograms of two runs
 * line up on a common grid without spreading counts; older rows hold ten bins from min to max.
 */
export interface Histogram {
  edges: number[];
  counts: number[];
}

/** What kind of values a prediction column holds, from its SQL type. */
export type ValueKind = 'float' | 'integer' | 'boolean' | 'text';

export interface Distribution {
  count: number;
  mean: number | null;
  std: number | null;
  min: number | null;
  max: number | null;
  quantiles: Record<string, number>;
  histogram: Histogram;
  /** Absent in runs recorded before mlscale kept it. */
  kind?: ValueKind;
  /**
   * Rows per value of an integer, boolean or text column with at most MAX_CATEGORIES distinct
   * values (booleans as "false"/"true"); absent for floats, for more values, and in older runs.
   */
  categories?: Record<string, number>;
}

/** The distribution of `count` values none of which is a number (or of no values at all). */
export function noNumbers(count: number): Distribution {
  return { count, mean: null, std: null, min: null, max: null, quantiles: {}, histogram: { edges: [], counts: [] } };
}

export interface FeatureStats {
  null_rate: number;
  mean: number | null;
  std: number | null;
  histogram: Histogram;
  /** Rows the null rate is over; absent in older runs (their rows_read stands in). */
  rows?: number;
}

export interface DriftReport {
  /** The baseline run; a baseline merged from the shards of one partition joins their ids with "+". */
  baseline_run_id: string;
  max_psi: number;
  /** Population stability index of each prediction column and feature against the baseline. */
  psi: { predictions: Record<string, number>; features: Record<string, number> };
  /** Columns over max_psi, worst first. */
  drifted: string[];
}

/**
 * Where a run's time went, in milliseconds, so the summary and the ledger can show the
 * bottleneck without a profiler. `start` is the run's start (the process's, for `score`) to the
 * first chunk read; `read`,
 * `tensors`, `stats`, `write`, `wait` and `publish` are main-thread time; `inference` is the
 * workers' time inside onnxruntime, summed over workers (it can exceed the wall time); `parquet`
 * is the Parquet thread's.
 */
export interface StageTimings {
  start_ms: number;
  read_ms: number;
  tensors_ms: number;
  inference_ms: number;
  stats_ms: number;
  write_ms: number;
  /** The main thread waiting for a chunk's inference to finish. */
  wait_ms: number;
  publish_ms: number;
  /**
   * The Parquet thread's time decoding the source's row groups and encoding the sink's parts
   * (and reading footers), beside the main thread's; 0 when neither side is Parquet on local disk.
   * Absent from runs recorded before it was measured.
   */
  parquet_ms?: number;
  /**
   * Scoring workers the run started: at most its parallelism, fewer when they kept up with the
   * main thread (ScorerPool). Absent from runs recorded before it was counted.
   */
  workers?: number;
  /**
   * CPU time of the whole process from the first chunk read to the end of the run: every thread,
   * the main, Parquet and scoring threads and the runtime's own (compilers, garbage collector).
   * In `schedule`, runs at the same time share it. Absent from runs recorded before it was measured.
   */
  cpu_ms?: number;
  /** cpu_ms over the wall time of the same span: how many cores the run kept busy on average. */
  cpu_cores?: number;
}

export interface RunStats {
  predictions: Record<string, Distribution>;
  features: Record<string, FeatureStats>;
  /**
   * Prediction columns in the job's declared output order: jsonb does not keep an object's key
   * order, so `predictions` alone cannot say which column comes first. Absent in older runs.
   */
  prediction_columns?: string[];
  drift?: DriftReport;
  /** Where the run's time went; absent in older runs. */
  timings?: StageTimings;
}
