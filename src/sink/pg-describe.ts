import type { ClientBase } from 'pg';
import { latestPartitionSql, ledgerTableSql } from '../ledger/pg-ledger.js';
import { METADATA_COLUMNS, type OutputColumn } from '../output/columns.js';
import { LEDGER_TABLE, jobLatestView, latestView } from '../output/tables.js';
import { underLockTimeout, type LockPolicy } from '../pg/lock-timeout.js';
import { ident, literal, qualified } from '../pg/sql.js';
import type { TableRef } from './pg-tree.js';

// What analysts read beside the prediction table: each job's view of its newest partition, and
// descriptions of the table, the views and their columns. One job's writes never change what
// another job's readers see: the table and its columns are described by the job that created
// the table (its comment names the job), every job describes its own view. Nothing is written
// when nothing changed, so a run takes no lock here on most days.

export interface Describer {
  readonly job: string;
  readonly model: string;
  readonly outputs: readonly OutputColumn[];
  readonly keys: readonly string[];
}

const ownerOf = (comment: string | null, pattern: RegExp) => comment?.match(pattern)?.[1];
const TABLE_OWNER = /^Predictions written by mlscale job (\S+) with model/;
const VIEW_OWNER = /^Rows of the newest partition job (\S+) published into/;

/** The names of the views every job keeps over `t`, for the conversion of a plain table. */
export async function jobViews(client: ClientBase, t: TableRef): Promise<string[]> {
  const res = await client.query(
    `SELECT relname FROM pg_class WHERE relnamespace = to_regnamespace($1) AND relkind = 'v'
        AND (relname = $2 OR starts_with(relname, $2 || '_'))
        AND obj_description(oid, 'pg_class') ~ '^Rows of the newest partition job '`,
    [t.schema, latestView(t.table)],
  );
  return res.rows.map((r) => String(r.relname));
}

/** `<table>_latest` for the job that holds it (or when free), `<table>_latest_<job>` for any other. */
async function viewFor(client: ClientBase, t: TableRef, job: string): Promise<string> {
  const res = await client.query(`SELECT obj_description(to_regclass($1), 'pg_class') AS c, to_regclass($1) AS v`, [
    qualified(t.schema, latestView(t.table)),
  ]);
  const row = res.rows[0] as { c: string | null; v: string | null };
  if (!row.v || ownerOf(row.c, VIEW_OWNER) === job) return latestView(t.table);
  return jobLatestView(t.table, job);
}

function commentsFor(d: Describer, t: TableRef): Map<string, string> {
  return new Map<string, string>([
    ...d.outputs.map((o): [string, string] => [
      o.column,
      `Prediction: output "${o.output}"${o.index !== undefined ? `, column ${o.index}` : ''} of model ${d.model}.`,
    ]),
    ...METADATA_COLUMNS.map((c): [string, string] => [
      c.name,
      c.name === 'run_id' ? c.comment.replace(/ledger\.$/, `ledger, ${t.schema}.${LEDGER_TABLE}.`) : c.comment,
    ]),
    ...d.keys.map((k): [string, string] => [k, 'Key column, copied unchanged from the source.']),
  ]);
}

/** Column comments of `relation` that differ from `want`. */
async function staleColumnComments(
  client: ClientBase,
  relation: string,
  want: Map<string, string>,
): Promise<[string, string][]> {
  const res = await client.query(
    `SELECT attname AS name, col_description(attrelid, attnum) AS c FROM pg_attribute
      WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`,
    [relation],
  );
  const have = new Map(res.rows.map((r) => [String(r.name), r.c as string | null]));
  return [...want].filter(([name, text]) => have.has(name) && have.get(name) !== text);
}

/**
 * The job's view and descriptions, brought up to date inside the caller's transaction. Each
 * statement that takes a lock readers could wait on (the view's replacement: ACCESS EXCLUSIVE on
 * the view; a comment) is asked for under the lock policy.
 */
export async function describeForAnalysts(
  client: ClientBase,
  t: TableRef,
  d: Describer,
  policy: LockPolicy,
  signal?: AbortSignal,
): Promise<void> {
  const table = qualified(t.schema, t.table);
  const viewName = await viewFor(client, t, d.job);
  const view = qualified(t.schema, viewName);
  const latest = latestPartitionSql(t.schema, d.job);
  // The job's rows of its newest partition: another job's rows in that partition are not its own.
  const body = `SELECT p.* FROM ${table} p
    WHERE p.partition = ${latest}
      AND p.run_id IN (SELECT r.run_id FROM ${ledgerTableSql(t.schema)} r WHERE r.job = ${literal(d.job)} AND r.status = 'succeeded')`;
  // Whether the view is as this version would write it: PostgreSQL's own rendering of both.
  await client.query(`CREATE TEMP VIEW mlscale_wanted_view AS ${body}`);
  const same = (
    await client.query(
      `SELECT to_regclass($1) IS NOT NULL AND pg_get_viewdef(to_regclass($1)) = pg_get_viewdef('pg_temp.mlscale_wanted_view'::regclass) AS same`,
      [view],
    )
  ).rows[0].same as boolean;
  await client.query('DROP VIEW pg_temp.mlscale_wanted_view');

  const viewComment = `Rows of the newest partition job ${d.job} published into ${t.schema}.${t.table}, scored by model ${d.model}.`;
  const tableComment = `Predictions written by mlscale job ${d.job} with model ${d.model}; each run replaces one partition atomically.`;
  const columns = commentsFor(d, t);
  const current = (
    await client.query(
      `SELECT obj_description(to_regclass($1), 'pg_class') AS t, obj_description(to_regclass($2), 'pg_class') AS v`,
      [table, view],
    )
  ).rows[0] as { t: string | null; v: string | null };
  const ownsTable = current.t === null || ownerOf(current.t, TABLE_OWNER) === d.job;
  const statements: string[] = [];
  if (!same) statements.push(`CREATE OR REPLACE VIEW ${view} AS ${body}`);
  if (!same || current.v !== viewComment) statements.push(`COMMENT ON VIEW ${view} IS ${literal(viewComment)}`);
  const viewColumns = same ? await staleColumnComments(client, view, columns) : [...columns];
  for (const [c, text] of viewColumns) statements.push(`COMMENT ON COLUMN ${view}.${ident(c)} IS ${literal(text)}`);
  if (ownsTable) {
    if (current.t !== tableComment) statements.push(`COMMENT ON TABLE ${table} IS ${literal(tableComment)}`);
    for (const [c, text] of await staleColumnComments(client, table, columns))
      statements.push(`COMMENT ON COLUMN ${table}.${ident(c)} IS ${literal(text)}`);
  }
  if (statements.length === 0) return;
  await underLockTimeout(
    client,
    policy,
    {
      action: `update the view ${t.schema}.${viewName} and the descriptions of ${t.schema}.${t.table}`,
      relations: [table, view],
    },
    async () => {
      for (const s of statements) await client.query(s);
    },
    signal,
  );
}
