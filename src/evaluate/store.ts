import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ClientBase } from 'pg';
import { glob } from 'tinyglobby';
import type { Job } from '../config/job.js';
import { LEDGER_DIR } from '../ledger/file-ledger.js';
import { ledgerSchemas } from '../ledger/pg-ledger.js';
import type { LedgerLocation } from '../ledger/read-ledger.js';
import { EVALUATIONS_TABLE } from '../output/tables.js';
import { relationExists } from '../pg/catalog.js';
import { connect } from '../pg/connect.js';
import { qualified } from '../pg/sql.js';
import type { Comparison } from './compare.js';
import type { Evaluation, LabelCounts, ModelQuality } from './evaluate.js';
import type { Metrics } from './metrics.js';

// Evaluations are kept per job, partition and model version where the ledger is: a table beside
// mlscale_runs for Postgres, one file per partition under <root>/_mlscale/evaluations/ for
// Parquet (outside the partition, so a re-score's swap of the directory never drops it unseen:
// the run ids it names tell a reader whether it still describes the published rows). A later
// evaluation of a partition replaces every stored row of it.

/** One model version's quality in one partition, as stored. */
export interface StoredQuality {
  readonly job: string;
  readonly partition: string;
  readonly ds: string;
  readonly role: ModelQuality['role'];
  readonly model_name: string;
  readonly model_version: string;
  readonly run_ids: readonly string[];
  readonly evaluated_at: string;
  readonly labels: LabelCounts;
  readonly metrics: Readonly<Record<string, Metrics>>;
  /** A challenger's comparison with the champion; null for the champion. */
  readonly comparison: Readonly<Record<string, Comparison>> | null;
}

export function flatten(e: Evaluation): StoredQuality[] {
  return e.models.map((m) => ({
    job: e.job,
    partition: e.partition,
    ds: e.ds,
    role: m.role,
    model_name: m.model_name,
    model_version: m.model_version,
    run_ids: m.run_ids,
    evaluated_at: e.evaluated_at,
    labels: e.labels,
    metrics: m.metrics,
    comparison: m.comparison ?? null,
  }));
}

const evaluationsTable = (schema: string) => qualified(schema, EVALUATIONS_TABLE);
const evaluationsDir = (root: string, job: string) => path.join(root, LEDGER_DIR, 'evaluations', job);
// A partition value may hold "/" (several parameters): one file name per value all the same.
const evaluationFile = (root: string, job: string, partition: string) =>
  path.join(evaluationsDir(root, job), `${encodeURIComponent(partition)}.json`);

async function ensureTable(client: ClientBase, schema: string): Promise<void> {
  await client.query(`CREATE TABLE IF NOT EXISTS ${evaluationsTable(schema)} (
    job text NOT NULL,
    partition text NOT NULL,
    ds text NOT NULL,
    role text NOT NULL CHECK (role IN ('champion', 'challenger')),
    model_name text NOT NULL,
    model_version text NOT NULL,
    run_ids text[] NOT NULL,
    evaluated_at timestamptz NOT NULL,
    labels jsonb NOT NULL,
    metrics jsonb NOT NULL,
    comparison jsonb,
    PRIMARY KEY (job, partition, role, model_name, model_version)
  )`);
}

/** Stores an evaluation where the job's ledger is, replacing the partition's earlier one in one step. */
export async function saveEvaluation(job: Job, e: Evaluation): Promise<string> {
  const sink = job.sink;
  if (sink.kind === 'parquet') {
    const file = evaluationFile(sink.root, job.name, e.partition);
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(e, null, 2) + '\n');
    await rename(tmp, file);
    return file;
  }
  const client = await connect(sink.url, 'evaluate');
  try {
    await ensureTable(client, sink.schema);
    await client.query('BEGIN');
    await client.query(`DELETE FROM ${evaluationsTable(sink.schema)} WHERE job = $1 AND partition = $2`, [
      e.job,
      e.partition,
    ]);
    for (const q of flatten(e))
      await client.query(
        `INSERT INTO ${evaluationsTable(sink.schema)} (job, partition, ds, role, model_name, model_version, run_ids, evaluated_at, labels, metrics, comparison)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [
          q.job,
          q.partition,
          q.ds,
          q.role,
          q.model_name,
          q.model_version,
          q.run_ids,
          q.evaluated_at,
          JSON.stringify(q.labels),
          JSON.stringify(q.metrics),
          q.comparison ? JSON.stringify(q.comparison) : null,
        ],
      );
    await client.query('COMMIT');
    return `${sink.schema}.${EVALUATIONS_TABLE}`;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Every stored evaluation at a ledger location (of `job` only, when given); [] where none was made. */
export async function readQuality(where: LedgerLocation, job?: string): Promise<StoredQuality[]> {
  if (where.dir) {
    const files = await glob(`**/${LEDGER_DIR}/evaluations/${job ?? '*'}/*.json`, {
      cwd: path.resolve(where.dir),
      absolute: true,
    });
    const out: StoredQuality[] = [];
    for (const f of files) {
      try {
        out.push(...flatten(JSON.parse(await readFile(f, 'utf8')) as Evaluation));
      } catch {
        // A file being replaced, or not ours: no quality to show from it.
      }
    }
    return out;
  }
  const url = where.url ?? process.env.DATABASE_URL;
  if (!url) return [];
  const client = await connect(url, 'ledger');
  try {
    const schemas = where.schema ? [where.schema] : await ledgerSchemas(client);
    const out: StoredQuality[] = [];
    for (const schema of schemas) {
      if (!(await relationExists(client, evaluationsTable(schema)))) continue;
      const res = await client
        .query(
          `SELECT job, partition, ds, role, model_name, model_version, run_ids,
                to_char(evaluated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS evaluated_at, labels, metrics, comparison
           FROM ${evaluationsTable(schema)} WHERE $1::text IS NULL OR job = $1 ORDER BY partition, role, model_name, model_version`,
          [job ?? null],
        )
        // Quality is extra to what runs and report show: a table this role may not read, or one
        // dropped since it was listed, leaves it out rather than failing them.
        .catch((err: { code?: string }) => {
          if (['42501', '42P01', '3F000'].includes(err.code ?? '')) return { rows: [] };
          throw err;
        });
      for (const r of res.rows as Record<string, unknown>[])
        out.push({
          job: String(r.job),
          partition: String(r.partition),
          ds: String(r.ds),
          role: r.role === 'challenger' ? 'challenger' : 'champion',
          model_name: String(r.model_name),
          model_version: String(r.model_version),
          run_ids: (r.run_ids as unknown[]).map(String),
          evaluated_at: String(r.evaluated_at),
          labels: r.labels as LabelCounts,
          metrics: r.metrics as Record<string, Metrics>,
          comparison: (r.comparison as Record<string, Comparison> | null) ?? null,
        });
    }
    return out;
  } finally {
    await client.end().catch(() => undefined);
  }
}
