import type { ClientBase } from 'pg';
import type { RunRecord } from './sink.js';
import { ident, qualified } from './sql.js';

export const LEDGER_TABLE = 'mlscale_runs';

/** Creates the run ledger in `schema` if it is missing. */
export async function ensureLedger(client: ClientBase, schema: string): Promise<void> {
  await client.query(`CREATE TABLE IF NOT EXISTS ${qualified(schema, LEDGER_TABLE)} (
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
    `CREATE INDEX IF NOT EXISTS ${ident(`${LEDGER_TABLE}_job_started_idx`)} ON ${qualified(schema, LEDGER_TABLE)} (job, started_at DESC)`,
  );
}

export async function insertRun(client: ClientBase, schema: string, run: RunRecord): Promise<void> {
  await client.query(
    `INSERT INTO ${qualified(schema, LEDGER_TABLE)} (run_id, job, partition, shard, params, model_name, model_version, model_sha256, status, started_at)
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

export async function finishRun(client: ClientBase, schema: string, run: RunRecord): Promise<void> {
  await client.query(
    `UPDATE ${qualified(schema, LEDGER_TABLE)} SET status = $2, finished_at = $3, rows_read = $4, rows_scored = $5,
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

export interface LedgerQuery {
  readonly runId?: string;
  readonly job?: string;
  readonly status?: string;
  readonly since?: Date;
  readonly limit: number;
}

/** Newest runs first. Returns [] when the ledger does not exist yet. */
export async function listRuns(client: ClientBase, schema: string, q: LedgerQuery): Promise<RunRecord[]> {
  const exists = await client.query(`SELECT to_regclass($1) AS t`, [`${ident(schema)}.${LEDGER_TABLE}`]);
  if (!exists.rows[0].t) return [];
  const res = await client.query(
    `SELECT run_id, job, partition, shard, params, model_name, model_version, model_sha256, status,
            started_at, finished_at, rows_read::float8 AS rows_read, rows_scored::float8 AS rows_scored,
            rows_rejected::float8 AS rows_rejected, rows_written::float8 AS rows_written, error, stats
       FROM ${qualified(schema, LEDGER_TABLE)}
      WHERE ($1::text IS NULL OR job = $1) AND ($3::text IS NULL OR status = $3) AND ($4::timestamptz IS NULL OR started_at >= $4)
        AND ($5::text IS NULL OR run_id = $5)
      ORDER BY started_at DESC LIMIT $2`,
    [q.job ?? null, q.limit, q.status ?? null, q.since?.toISOString() ?? null, q.runId ?? null],
  );
  return res.rows.map((r) => ({
    ...r,
    started_at: new Date(r.started_at).toISOString(),
    finished_at: r.finished_at ? new Date(r.finished_at).toISOString() : null,
  }));
}
