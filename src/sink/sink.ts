import type { Field, Vector } from 'apache-arrow';
import type { PredictionColumn } from '../tensors/from-outputs.js';
import type { OutputColumn } from '../output/columns.js';
import type { Shard } from '../config/job.js';
import type { Checkpoint, RunRecord } from '../ledger/record.js';
import type { RejectBuffer } from './rejects.js';

/** One scored chunk on its way to the sink: the source's key vectors plus predictions. */
export interface ScoredChunk {
  readonly index: number;
  /** Rows in `predictions` (after skipped rows were dropped). */
  readonly rows: number;
  readonly keys: readonly Vector[];
  /** Which rows of the key vectors were scored; undefined when all were. */
  readonly keep: Uint32Array | undefined;
  readonly predictions: readonly PredictionColumn[];
  /** Under combine: route, which of layout.models scored each row; undefined when one identity covers the run. */
  readonly modelIndex?: Uint8Array;
}

/** What every sink learns at construction: the columns it will write. */
export interface SinkLayout {
  readonly job: string;
  /** This process's shard (0 of 1 when the run is not sharded). */
  readonly shard: Shard;
  readonly keyFields: readonly Field[];
  readonly outputs: readonly OutputColumn[];
  /** The run's model identity (one model, or every model joined with '+'). */
  readonly modelName: string;
  readonly modelVersion: string;
  /** Each model's own identity, for rows tagged with a modelIndex. */
  readonly models: readonly { readonly name: string; readonly version: string }[];
  /** Wait for another run holding the same job, partition and shard instead of exiting 4. */
  readonly wait?: boolean;
  /** With wait: give up (exit 4) after this long; undefined waits for as long as it takes. */
  readonly waitTimeoutMs?: number;
  /** Where the sink says what the operator should know (a lock taken over, a wait begun). */
  readonly warn?: (message: string) => void;
  /** Where rejected rows go (the job's rejects:): a table, or the root of a Parquet rejects tree. */
  readonly rejects?: { readonly schema: string; readonly table: string } | { readonly dir: string };
  /** Commit progress at checkpoints (job.checkpoint_rows), so a failed run can be resumed. */
  readonly checkpointing?: boolean;
  /** combine: route: every chunk carries a modelIndex naming each row's model. */
  readonly routed?: boolean;
  readonly partition: string;
  readonly runId: string;
  readonly scoredAt: Date;
}

/**
 * A destination with publish semantics: nothing written by `write` is visible to readers until
 * `publish`, and `abort` leaves no trace but a failed ledger row.
 */
export interface Sink {
  /** Where predictions go, for the summary (secrets redacted). */
  readonly description: string;
  /** Checks the destination fits the layout without writing anything (for validate). */
  check(): Promise<void>;
  /** Creates what is missing (table, directory) and records the run as running; with `resume`, continues that checkpointed run. */
  /** An abort of `signal` ends a wait for the partition's lock. */
  begin(run: RunRecord, resume?: Checkpoint, signal?: AbortSignal): Promise<void>;
  write(chunk: ScoredChunk): Promise<void>;
  /** Makes everything written so far durable, still invisible to readers (checkpointing sinks only). */
  checkpoint(progress: Checkpoint): Promise<void>;
  /** The newest failed checkpointed run of this job, partition and shard, if any. */
  findResumable(): Promise<Checkpoint | undefined>;
  /** What a publish of this run would replace: the runs that wrote the partition now, and their rows. */
  published(): Promise<{ runIds: readonly string[]; rows: number } | undefined>;
  /** The ledger row of a baseline run for drift: `previous` (the job's nearest earlier partition) or a run id. */
  baseline(ref: string): Promise<RunRecord | undefined>;
  /** Makes every written row visible at once, replacing the partition, and records the run (with the rejected rows, when the job writes them). */
  /** Checks `signal` last thing before the commit point: an abort before it publishes nothing. */
  publish(run: RunRecord, rejects?: RejectBuffer, signal?: AbortSignal): Promise<void>;
  /** Discards everything written and records the failure. Never throws. */
  abort(run: RunRecord): Promise<void>;
  close(): Promise<void>;
}
