import type { Field } from 'apache-arrow';

/** The SQL type of a prediction column (its Parquet type follows from it). */
export type SqlType = 'double precision' | 'bigint' | 'boolean' | 'text';

/** One prediction column: a model output, or one column of a 2-D output. */
export interface OutputColumn {
  readonly column: string;
  readonly output: string;
  /** Column index of a 2-D output; undefined for [N] or [N, 1] outputs. */
  readonly index?: number;
  readonly sqlType: SqlType;
}

/**
 * Columns every prediction row carries after its keys and predictions, in this order: the run's
 * facts, the same on every row of a run (per model under combine: route).
 */
export const METADATA_COLUMNS = [
  { name: 'model_name', sqlType: 'text', comment: 'Name of the model that scored the row.' },
  {
    name: 'model_version',
    sqlType: 'text',
    comment: 'Version of that model (by default the first 12 hex characters of its sha256).',
  },
  { name: 'partition', sqlType: 'text', comment: 'What one run replaces as a whole (by default the run date, ds).' },
  { name: 'run_id', sqlType: 'text', comment: 'The mlscale run that wrote the row; see the run ledger.' },
  { name: 'scored_at', sqlType: 'timestamptz', comment: 'When the run scored the row.' },
] as const;

export type MetadataColumn = (typeof METADATA_COLUMNS)[number]['name'];
export const METADATA_NAMES: readonly MetadataColumn[] = METADATA_COLUMNS.map((c) => c.name);

/** Columns of a rejects table or file after the key columns, in this order. */
export const REJECT_COLUMNS = [
  { name: 'reason', sqlType: 'text' },
  { name: 'job', sqlType: 'text' },
  { name: 'partition', sqlType: 'text' },
  { name: 'shard', sqlType: 'text' },
  { name: 'run_id', sqlType: 'text' },
  { name: 'rejected_at', sqlType: 'timestamptz' },
] as const;

export type RejectColumn = (typeof REJECT_COLUMNS)[number]['name'];

/** A column of the output table, with where it comes from. */
export interface TableColumn {
  readonly name: string;
  readonly role: 'key' | 'prediction' | 'metadata';
  readonly sqlType: string;
}

/**
 * The output table's columns in order: keys as the source has them, predictions, then metadata.
 * `keySqlType` types a key column from its source field (the sink's own type map).
 */
export function tableColumns(
  keyFields: readonly Field[],
  outputs: readonly OutputColumn[],
  keySqlType: (field: Field) => string,
): TableColumn[] {
  return [
    ...keyFields.map((f): TableColumn => ({ name: f.name, role: 'key', sqlType: keySqlType(f) })),
    ...outputs.map((o): TableColumn => ({ name: o.column, role: 'prediction', sqlType: o.sqlType })),
    ...METADATA_COLUMNS.map((m): TableColumn => ({ name: m.name, role: 'metadata', sqlType: m.sqlType })),
  ];
}
