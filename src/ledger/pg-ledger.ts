import type { ClientBase } from 'pg';
import type { Shard } from '../config/job.js';
import { CHECKPOINTS_TABLE, LEDGER_TABLE } from '../output/tables.js';
import { relationExists } from '../pg/catalog.js';
import { ident, literal, qualified } from '../pg/sql.js';
import { chooseBaseline } from './baseline.js';
import {
  normalizeCheckpoint,
  normalizeRun,
  shardText,
  type Checkpoint,
  type LedgerQuery,
  type RunRecord,
} from './record.js';

// Every statement on mlscale's own tables in a sink's schema: the run ledger and the checkpoints
// of resumable runs. Each function reads or writes through the caller's client, so it takes part
// in the caller's transaction.

/** Columns of a ledger row, counters as float8 so pg hands back numbers, not strings. */
const RUN_COLUMNS = `run_id, job, partition, shard, params, model_name, model_version, model_sha256, status,
  started_at, finished_at, rows_read::float8 AS rows_read, rows_scored::float8 AS rows_scored,
  rows_rejected::float8 AS rows_rejected, rows_written::float8 AS rows_written, error, stats`;

/** The runs of one job, partition and shard: what a lock guards and a re-run replaces. */
export interface RunKey {
  readonly job: string;
  readonly partition: string;
  readonly shard: Shard;
}

const ledger = (schema: string) => qualified(schema, LEDGER_TABLE);
export const ledgerTableSql = ledger;

/**
 * The session advisory lock a run of `key` holds while it lives, as text hashed by
 * hashtextextended(text, 0). It names the ledger's schema, not the table: the ledger keys runs by
 * job, partition and shard, and `runs` must be able to tell a live run from a dead one.
 */
export const runLockKey = (schema: string, key: RunKey) =>
  `mlscale:${schema}:${key.job}:${key.partition}:${shardText(key.shard)}`;

/**
 * Whether another live session holds the lock of the ledger row in scope (columns job, partition,
 * shard). Not this one: a run holding its key's lock settles the rows of that key it did not write.
 */
const lockHeldSql = (schemaParam: string) => `EXISTS (
  SELECT 1 FROM pg_locks l, LATERAL (SELECT hashtextextended('mlscale:' || ${schemaParam} || ':' || job || ':' || partition || ':' || shard, 0) AS h) k
   WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.pid <> pg_backend_pid()
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
     AND l.classid::bigint = (k.h >> 32) & 4294967295 AND l.objid::bigint = k.h & 4294967295)`;
const checkpoints = (schema: string) => qualified(schema, CHECKPOINTS_TABLE);

/**
 * Rows whose `shard` column (I/N text) a run of shard $shard with count $count replaces: all of
 * them for an unsharded run ("0/1"); for shard I/N, that shard's and any written under another
 * shard count.
 */
export function replacedShards(shardParam: string, countParam: string): string {
  return `(${shardParam} = '0/1' OR shard = ${shardParam} OR split_part(shard, '/', 2) <> ${countParam})`;
}

const exists = (client: ClientBase, schema: string, table: string) => relationExists(client, qualified(schema, table));

/** Creates the run ledger in `schema` if it is missing. */
export async function ensureLedger(client: ClientBase, schema: string): Promise<void> {
  await client.query(`CREATE TABLE IF NOT EXISTS ${ledger(schema)} (
    run_id text PRIMARY KEY,
    job text NOT NULL,
    partition text NOT NULL,
    shard text NOT NULL DEFAULT '0/1',
    params jsonb NOT NULL DEFAULT '{}',
    model_name text NOT NULL,
    model_version text NOT NULL,
    model_sha256 text NOT NULL,
    status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    rows_read bigint NOT NULL DEFAULT 0,
    rows_scored bigint NOT NULL DEFAULT 0,
    rows_rejected bigint NOT NULL DEFAULT 0,
    rows_written bigint NOT NULL DEFAULT 0,
    error text,
    stats jsonb
  )`);
  await client.query(
    `CREATE INDEX IF NOT EXISTS ${ident(`${LEDGER_TABLE}_job_started_idx`)} ON ${ledger(schema)} (job, started_at DESC)`,
  );
}

/** Creates the checkpoints table of resumable runs if it is missing. */
export async function ensureCheckpoints(client: ClientBase, schema: string): Promise<void> {
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${checkpoints(schema)} (run_id text PRIMARY KEY, checkpoint jsonb NOT NULL, updated_at timestamptz NOT NULL)`,
  );
}

export async function insertRun(client: ClientBase, schema: string, run: RunRecord): Promise<void> {
  await client.query(
    `INSERT INTO ${ledger(schema)} (run_id, job, partition, shard, params, model_name, model_version, model_sha256, status, started_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      run.run_id,
      run.job,
      run.partition,
      run.shard,
      JSON.stringify(run.params),
      run.model_name,
      run.model_version,
      run.model_sha256,
      run.status,
      run.started_at,
    ],
  );
}

/** Records how a run ended: status, counters, error and statistics. */
export async function finishRun(client: ClientBase, schema: string, run: RunRecord): Promise<void> {
  await client.query(
    `UPDATE ${ledger(schema)} SET status = $2, finished_at = $3, rows_read = $4, rows_scored = $5,
       rows_rejected = $6, rows_written = $7, error = $8, stats = $9 WHERE run_id = $1`,
    [
      run.run_id,
      run.status,
      run.finished_at,
      run.rows_read,
      run.rows_scored,
      run.rows_rejected,
      run.rows_written,
      run.error,
      run.stats ? JSON.stringify(run.stats) : null,
    ],
  );
}

/** A resumed run is running again. */
export async function reopenRun(client: ClientBase, schema: string, runId: string): Promise<void> {
  await client.query(
    `UPDATE ${ledger(schema)} SET status = 'running', error = NULL, finished_at = NULL WHERE run_id = $1`,
    [runId],
  );
}

/**
 * Runs of this job and partition still marked running whose lock no session holds belong to
 * processes that died: marked failed (of any shard and shard count, so a switch of shard count
 * settles what the old count left).
 */
export async function markAbandoned(client: ClientBase, schema: string, key: RunKey): Promise<void> {
  await client.query(
    `UPDATE ${ledger(schema)} SET status = 'failed', finished_at = now(),
       error = coalesce(error, 'abandoned: the process ended without finishing the run')
     WHERE job = $1 AND partition = $2 AND status = 'running' AND NOT ${lockHeldSql('$3::text')}`,
    [key.job, key.partition, schema],
  );
}

/** Succeeded runs whose rows a run of `key` replaces when it publishes. */
export async function replacedRunIds(client: ClientBase, schema: string, key: RunKey): Promise<string[]> {
  const res = await client.query(
    `SELECT run_id FROM ${ledger(schema)}
      WHERE job = $1 AND partition = $2 AND status = 'succeeded' AND ${replacedShards('$3', '$4')}`,
    [key.job, key.partition, shardText(key.shard), String(key.shard.count)],
  );
  return res.rows.map((r) => String(r.run_id));
}

/**
 * Ended runs of this key, and of this job and partition under another shard count, other than
 * `runId`: whatever they committed unpublished (checkpoints) a fresh run discards. Another shard
 * of the same count keeps its own, to resume.
 */
export async function otherRunIds(client: ClientBase, schema: string, key: RunKey, runId: string): Promise<string[]> {
  const res = await client.query(
    `SELECT run_id FROM ${ledger(schema)}
      WHERE job = $1 AND partition = $2 AND run_id <> $4 AND status <> 'running'
        AND (shard = $3 OR split_part(shard, '/', 2) <> $5)`,
    [key.job, key.partition, shardText(key.shard), runId, String(key.shard.count)],
  );
  return res.rows.map((r) => String(r.run_id));
}

export async function saveCheckpoint(client: ClientBase, schema: string, progress: Checkpoint): Promise<void> {
  await client.query(
    `INSERT INTO ${checkpoints(schema)} (run_id, checkpoint, updated_at) VALUES ($1, $2, now())
     ON CONFLICT (run_id) DO UPDATE SET checkpoint = EXCLUDED.checkpoint, updated_at = now()`,
    [progress.runId, JSON.stringify(progress)],
  );
}

export async function deleteCheckpoints(client: ClientBase, schema: string, runIds: readonly string[]): Promise<void> {
  await client.query(`DELETE FROM ${checkpoints(schema)} WHERE run_id = ANY($1::text[])`, [runIds]);
}

/** The newest checkpoint of a failed (or abandoned) run of `key`, if any. */
export async function findCheckpoint(client: ClientBase, schema: string, key: RunKey): Promise<Checkpoint | undefined> {
  if (!(await exists(client, schema, CHECKPOINTS_TABLE))) return undefined;
  const res = await client.query(
    `SELECT c.checkpoint FROM ${checkpoints(schema)} c JOIN ${ledger(schema)} r USING (run_id)
      WHERE r.job = $1 AND r.partition = $2 AND r.shard = $3 AND r.status IN ('failed', 'running')
      ORDER BY r.started_at DESC LIMIT 1`,
    [key.job, key.partition, shardText(key.shard)],
  );
  return res.rows[0] ? normalizeCheckpoint(res.rows[0].checkpoint) : undefined;
}

/** Every schema of the database that holds a run ledger, sorted. */
export async function ledgerSchemas(client: ClientBase): Promise<string[]> {
  const res = await client.query(
    `SELECT n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relname = $1 AND c.relkind IN ('r', 'p') AND has_schema_privilege(n.oid, 'USAGE') ORDER BY 1`,
    [LEDGER_TABLE],
  );
  return res.rows.map((r) => String(r.schema));
}

/**
 * Runs matching `q`, newest first; [] when the ledger does not exist yet. A row still `running`
 * whose lock no session holds belongs to a process that died: it reads `abandoned`.
 */
export async function listRuns(client: ClientBase, schema: string, q: LedgerQuery): Promise<RunRecord[]> {
  if (!(await exists(client, schema, LEDGER_TABLE))) return [];
  const res = await client.query(
    `SELECT * FROM (
       SELECT ${RUN_COLUMNS.replace(/\bstatus,/, `CASE WHEN status = 'running' AND NOT ${lockHeldSql('$6::text')} THEN 'abandoned' ELSE status END AS status,`)}
         FROM ${ledger(schema)}
        WHERE ($1::text IS NULL OR job = $1) AND ($4::timestamptz IS NULL OR started_at >= $4) AND ($5::text IS NULL OR run_id = $5)
     ) r WHERE ($3::text IS NULL OR status = $3)
      ORDER BY started_at DESC LIMIT $2`,
    [q.job ?? null, q.limit, q.status ?? null, q.since?.toISOString() ?? null, q.runId ?? null, schema],
  );
  return res.rows.map(normalizeRun);
}

/**
 * The run a drift check compares with (see baseline.ts): for `previous`, the job's nearest earlier
 * partition, all its shards merged; or a run id (or ids joined with "+").
 */
export async function baselineRun(
  client: ClientBase,
  schema: string,
  key: RunKey,
  ref: string,
): Promise<RunRecord | undefined> {
  if (!(await exists(client, schema, LEDGER_TABLE))) return undefined;
  // Only the nearest earlier partition's runs are read: the choice among them is chooseBaseline's.
  const res =
    ref === 'previous'
      ? await client.query(
          `SELECT ${RUN_COLUMNS} FROM ${ledger(schema)}
            WHERE job = $1 AND status = 'succeeded' AND stats IS NOT NULL AND partition = (
              SELECT partition FROM ${ledger(schema)}
               WHERE job = $1 AND status = 'succeeded' AND stats IS NOT NULL AND partition COLLATE "C" < $2
               ORDER BY partition COLLATE "C" DESC LIMIT 1)`,
          [key.job, key.partition],
        )
      : await client.query(`SELECT ${RUN_COLUMNS} FROM ${ledger(schema)} WHERE run_id = ANY($1::text[])`, [
          ref.split('+'),
        ]);
  return chooseBaseline(res.rows.map(normalizeRun), key, ref);
}

/**
 * A scalar subquery: the newest partition `job` has published, by partition value (a backfill of
 * an older day does not become the latest). Partitions compare as text, byte by byte (COLLATE
 * "C"): ISO dates (the default, ds) in date order.
 */
export function latestPartitionSql(schema: string, job: string): string {
  return `(SELECT partition FROM ${ledger(schema)}
            WHERE job = ${literal(job)} AND status = 'succeeded'
            ORDER BY partition COLLATE "C" DESC LIMIT 1)`;
}
