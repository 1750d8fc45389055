import type { Schema } from 'apache-arrow';
import type { Job, LabelsSpec } from '../config/job.js';
import { MlscaleError, UsageError } from '../errors.js';
import { parquetSourceOver, scanParquet } from '../source/parquet.js';
import { scanPostgres } from '../source/postgres.js';
import type { Source } from '../source/source.js';

/** The labels that have arrived, by joined key. */
export interface Labels {
  readonly byKey: ReadonlyMap<string, number>;
  /** Label rows read. */
  readonly rows: number;
  /** Rows whose label is null: the outcome is not known yet. */
  readonly nulls: number;
  /** Rows whose known_at is after the evaluation started, left out. */
  readonly notYetKnown: number;
  /** Rows for a key already seen: the latest known (or the last read) wins. */
  readonly duplicates: number;
  /** The latest known_at among the labels used (ISO 8601), when labels.known_at is set. */
  readonly knownUntil: string | null;
}

/** One text per key, so that an int key in the labels meets a bigint key in the predictions. */
export function keyText(values: readonly unknown[]): string {
  return JSON.stringify(values.map((v) => (v instanceof Date ? v.toISOString() : v === null ? null : String(v))));
}

/** A label as a number: booleans are 0/1; anything else that is not a finite number is refused. */
function labelValue(v: unknown, column: string): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n === 'number' && Number.isFinite(n)) return n;
  throw new UsageError(
    `labels: column "${column}" holds ${JSON.stringify(String(v))}, not a number or boolean; give labels as 0/1, true/false or a number.`,
    { code: 'label_type' },
  );
}

/** The labels' source, checked: its errors name labels:, not source:. */
async function openLabels(spec: LabelsSpec, job: Job, columns: readonly string[]): Promise<Source> {
  try {
    let schema: Schema;
    let open: () => Source;
    if (spec.source.kind === 'parquet') {
      const files = await scanParquet(spec.source.path);
      schema = files.schema;
      open = () => parquetSourceOver(files.schema, files.groups, { batchSize: 65_536, columns }, spec.source.kind);
    } else {
      const scanned = await scanPostgres(spec.source, { batchSize: 65_536, params: job.params });
      schema = scanned.schema;
      open = () => scanned.open(columns);
    }
    const have = schema.fields.map((f) => f.name);
    const missing = columns.find((c) => !have.includes(c));
    if (missing)
      throw new UsageError(
        `labels: column "${missing}" is not in the labels (have: ${have.join(', ')}); fix labels.column, labels.key or labels.known_at.`,
        { code: 'labels_column' },
      );
    return open();
  } catch (err) {
    if (err instanceof MlscaleError && err.message.startsWith('source'))
      throw new UsageError(err.message.replace(/^source(\.postgres\.query)?:/, 'labels:'), {
        code: err.code,
        cause: err,
      });
    throw err;
  }
}

/** Reads every label row into a map from key to label. */
export async function readLabels(job: Job, now: Date, signal?: AbortSignal): Promise<Labels> {
  const spec = job.labels!;
  const columns = [...spec.key, spec.column, ...(spec.knownAt ? [spec.knownAt] : [])];
  const source = await openLabels(spec, job, [...new Set(columns)]);
  const byKey = new Map<string, number>();
  const knownAt = new Map<string, number>();
  let rows = 0;
  let nulls = 0;
  let notYetKnown = 0;
  let duplicates = 0;
  let knownUntil = -Infinity;
  try {
    for await (const batch of source.batches(signal)) {
      const keys = spec.key.map((k) => batch.getChild(k)!);
      const label = batch.getChild(spec.column)!;
      const known = spec.knownAt ? batch.getChild(spec.knownAt) : null;
      for (let i = 0; i < batch.numRows; i++) {
        rows++;
        const y = labelValue(label.get(i), spec.column);
        if (y === null) {
          nulls++;
          continue;
        }
        const t = known ? time(known.get(i)) : 0;
        if (known && t > now.getTime()) {
          notYetKnown++;
          continue;
        }
        const k = keyText(keys.map((c) => c.get(i)));
        if (byKey.has(k)) {
          duplicates++;
          if (t < knownAt.get(k)!) continue;
        }
        byKey.set(k, y);
        knownAt.set(k, t);
        if (known) knownUntil = Math.max(knownUntil, t);
      }
    }
  } finally {
    await source.close();
  }
  return {
    byKey,
    rows,
    nulls,
    notYetKnown,
    duplicates,
    knownUntil: Number.isFinite(knownUntil) ? new Date(knownUntil).toISOString() : null,
  };
}

/** known_at as milliseconds: a timestamp, a date, or text that Date can parse; null counts as known. */
function time(v: unknown): number {
  if (v === null || v === undefined) return -Infinity;
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  const t = Date.parse(String(v));
  return Number.isNaN(t) ? -Infinity : t;
}
