import type { Shard } from '../config/job.js';
import { redact } from '../redact.js';
import type { RunStats } from '../stats/types.js';

/**
 * `abandoned` is never stored: readers show it for a row still `running` whose process is gone
 * (no session holds its lock, or its Parquet lock file is not renewed).
 */
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'abandoned';

/** The ledger row of one run (mlscale_runs, or _mlscale_run.json beside Parquet output). */
export interface RunRecord {
  run_id: string;
  job: string;
  partition: string;
  /** "I/N": how the ledger stores a shard ("0/1" when the run is not sharded). */
  shard: string;
  params: Record<string, string>;
  model_name: string;
  model_version: string;
  model_sha256: string;
  status: RunStatus;
  /** ISO 8601, UTC. */
  started_at: string;
  finished_at: string | null;
  rows_read: number;
  rows_scored: number;
  rows_rejected: number;
  rows_written: number;
  error: string | null;
  stats: RunStats | null;
}

/** What a run scored with: a resumed run must use the same, or its two parts would disagree. */
export interface RunFingerprint {
  /** sha256 of the model file(s). */
  readonly model: string;
  /** sha256 of the job's parameters. */
  readonly params: string;
  /** sha256 of the job file. */
  readonly job: string;
  /** sha256 of what the source reads (files with sizes and times, or the query). */
  readonly source: string;
}

/** The record of a run that is starting: running, nothing counted yet. */
export function newRunRecord(
  identity: Pick<
    RunRecord,
    'run_id' | 'job' | 'partition' | 'shard' | 'params' | 'model_name' | 'model_version' | 'model_sha256' | 'started_at'
  >,
): RunRecord {
  return {
    ...identity,
    status: 'running',
    finished_at: null,
    rows_read: 0,
    rows_scored: 0,
    rows_rejected: 0,
    rows_written: 0,
    error: null,
    stats: null,
  };
}

/** How far a checkpointed run got: everything up to `chunks` source chunks is durable. */
export interface Checkpoint {
  readonly runId: string;
  /** Absent in checkpoints written before mlscale recorded it. */
  readonly fingerprint?: RunFingerprint;
  readonly chunks: number;
  readonly batchSize: number;
  readonly counters: {
    rowsRead: number;
    rowsScored: number;
    rowsRejected: number;
    rowsFilled: number;
    rowsWritten: number;
  };
}

/** Which runs of a job a filter keeps, newest first. */
export interface LedgerQuery {
  readonly runId?: string;
  readonly job?: string;
  readonly status?: string;
  readonly since?: Date;
  readonly limit: number;
}

/** A shard as the ledger writes it. */
export function shardText(shard: Shard): string {
  return `${shard.index}/${shard.count}`;
}

const STATUSES: readonly RunStatus[] = ['running', 'succeeded', 'failed', 'abandoned'];

const isoOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : iso(v));
function iso(v: unknown): string {
  const d = v instanceof Date ? v : new Date(String(v));
  if (Number.isNaN(d.getTime())) throw new Error(`ledger: "${String(v)}" is not a time`);
  return d.toISOString();
}
const count = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const json = <T>(v: unknown): T | null =>
  v === null || v === undefined ? null : ((typeof v === 'string' ? JSON.parse(v) : v) as T);

/**
 * One ledger row as mlscale uses it, whatever it was read from: pg returns bigint as strings,
 * timestamps as Dates and jsonb as objects; a run file holds ISO strings and numbers.
 */
export function normalizeRun(raw: Record<string, unknown>): RunRecord {
  const status = String(raw.status) as RunStatus;
  if (!STATUSES.includes(status)) throw new Error(`ledger: run ${String(raw.run_id)} has status "${status}"`);
  return {
    run_id: String(raw.run_id),
    job: String(raw.job),
    partition: String(raw.partition),
    shard: raw.shard === undefined || raw.shard === null ? '0/1' : String(raw.shard),
    // Rows written by older versions may hold a password: hide it on the way out too.
    params: Object.fromEntries(
      Object.entries(json<Record<string, string>>(raw.params) ?? {}).map(([k, v]) => [k, redact(String(v))]),
    ),
    model_name: String(raw.model_name),
    model_version: String(raw.model_version),
    model_sha256: String(raw.model_sha256),
    status,
    started_at: iso(raw.started_at),
    finished_at: isoOrNull(raw.finished_at),
    rows_read: count(raw.rows_read),
    rows_scored: count(raw.rows_scored),
    rows_rejected: count(raw.rows_rejected),
    rows_written: count(raw.rows_written),
    error: raw.error === null || raw.error === undefined ? null : redact(String(raw.error)),
    stats: json<RunStats>(raw.stats),
  };
}

/** A checkpoint as mlscale uses it, from jsonb or a progress file; a malformed one is an error. */
export function normalizeCheckpoint(raw: unknown): Checkpoint {
  const c = (typeof raw === 'string' ? JSON.parse(raw) : raw) as Record<string, unknown> | null;
  const counters = (c?.counters ?? {}) as Record<string, unknown>;
  const n = (v: unknown, what: string) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`ledger: checkpoint has no ${what}`);
    return v;
  };
  const fingerprint = c?.fingerprint as RunFingerprint | undefined;
  return {
    runId: String(c?.runId ?? ''),
    chunks: n(c?.chunks, 'chunk count'),
    batchSize: n(c?.batchSize, 'batch size'),
    counters: {
      rowsRead: n(counters.rowsRead, 'rowsRead'),
      rowsScored: n(counters.rowsScored, 'rowsScored'),
      rowsRejected: n(counters.rowsRejected, 'rowsRejected'),
      rowsFilled: n(counters.rowsFilled, 'rowsFilled'),
      rowsWritten: n(counters.rowsWritten, 'rowsWritten'),
    },
    ...(fingerprint ? { fingerprint } : {}),
  };
}

/** Whether a run passes a query's filters (the file ledger filters in memory). */
export function matches(run: RunRecord, q: LedgerQuery): boolean {
  return (
    (!q.runId || run.run_id === q.runId) &&
    (!q.job || run.job === q.job) &&
    (!q.status || run.status === q.status) &&
    (!q.since || Date.parse(run.started_at) >= q.since.getTime())
  );
}

/** Newest first. */
export function byStartedDesc(a: RunRecord, b: RunRecord): number {
  return b.started_at.localeCompare(a.started_at);
}
