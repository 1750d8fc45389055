// The names mlscale gives tables beside a Postgres sink: its own ledger and checkpoints, and per
// prediction table a staging table and a view. A sink or rejects table may take none of them.

export const LEDGER_TABLE = 'mlscale_runs';
export const CHECKPOINTS_TABLE = 'mlscale_checkpoints';

/** The longest sink table name whose derived names (`_mlscale_stage`, `_latest`) fit PostgreSQL's 63 bytes. */
export const MAX_SINK_TABLE_NAME = 63 - '_mlscale_stage'.length;

/** Where a checkpointed run stages its rows until it publishes. */
export const stageTable = (table: string) => `${table}_mlscale_stage`;
/** The analysts' view of the newest partition. */
export const latestView = (table: string) => `${table}_latest`;

/**
 * Why `table` cannot hold predictions or rejects beside the prediction table `sink`, or
 * undefined when it can. Writing there would delete or overwrite rows mlscale keeps.
 */
export function reservedTable(table: string, sink: string): string | undefined {
  if (table === LEDGER_TABLE) return `${table} is mlscale's run ledger`;
  if (table === CHECKPOINTS_TABLE) return `${table} holds mlscale's checkpoints`;
  if (table.endsWith('_mlscale_stage')) return `${table} is named like mlscale's staging tables`;
  if (table === latestView(sink)) return `${table} is the view mlscale keeps over ${sink}`;
  return undefined;
}
