import { createHash } from 'node:crypto';

// The names mlscale gives tables beside a Postgres sink: its own ledger and checkpoints, and per
// prediction table a staging table and a view. A sink or rejects table may take none of them.

export const LEDGER_TABLE = 'mlscale_runs';
export const CHECKPOINTS_TABLE = 'mlscale_checkpoints';
/** Model quality per job, partition and model version, written by `mlscale evaluate`. */
export const EVALUATIONS_TABLE = 'mlscale_evaluations';

/**
 * The longest sink table name whose derived names (`_p<hash>`, `_r<hash>`, `_latest`, and the
 * `_mlscale_stage` of tables written before partitioning) fit PostgreSQL's 63 bytes.
 */
export const MAX_SINK_TABLE_NAME = 63 - '_mlscale_stage'.length;

/** Where a checkpointed run stages its rows until it publishes. */
export const stageTable = (table: string) => `${table}_mlscale_stage`;
/** The analysts' view of the newest partition, of the first job that wrote the table. */
export const latestView = (table: string) => `${table}_latest`;
/** The same view for every other job writing into the table: each job's readers see its rows only. */
export function jobLatestView(table: string, job: string): string {
  const name = `${table}_latest_${job}`;
  if (Buffer.byteLength(name) <= 63) return name;
  return `${table}_latest_${createHash('sha256').update(job).digest('hex').slice(0, 10)}`;
}

/**
 * Why `table` cannot hold predictions or rejects beside the prediction table `sink`, or
 * undefined when it can. Writing there would delete or overwrite rows mlscale keeps.
 */
export function reservedTable(table: string, sink: string): string | undefined {
  if (table === LEDGER_TABLE) return `${table} is mlscale's run ledger`;
  if (table === CHECKPOINTS_TABLE) return `${table} holds mlscale's checkpoints`;
  if (table === EVALUATIONS_TABLE) return `${table} holds mlscale's evaluations`;
  if (table.endsWith('_mlscale_stage')) return `${table} is named like mlscale's staging tables`;
  if (table === latestView(sink) || table.startsWith(`${latestView(sink)}_`))
    return `${table} is named like the views mlscale keeps over ${sink}`;
  if (new RegExp(`^${sink}_[pr][0-9a-f]{10}$`).test(table))
    return `${table} is named like the tables mlscale keeps ${sink}'s partitions in`;
  return undefined;
}
