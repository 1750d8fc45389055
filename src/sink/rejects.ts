import {
  Table,
  TimestampMillisecond,
  Utf8,
  vectorFromArray,
  type Field,
  type RecordBatch,
  type Vector,
} from 'apache-arrow';
import { shardText } from '../ledger/record.js';
import { REJECT_COLUMNS, type RejectColumn } from '../output/columns.js';
import type { SinkLayout } from './sink.js';
import type { Reject } from '../tensors/to-feeds.js';

/** At most this many rejected rows are kept for writing; beyond it they are only counted. */
export const MAX_REJECT_ROWS = 1_000_000;

/**
 * Rejected rows waiting for publish: their key values and the reason, in source order. Bounded,
 * so a run that rejects everything still runs in constant memory (and fails max_reject_rate).
 */
export class RejectBuffer {
  readonly keys: unknown[][];
  readonly reasons: string[] = [];
  dropped = 0;

  constructor(readonly keyFields: readonly Field[]) {
    this.keys = keyFields.map(() => []);
  }

  add(batch: RecordBatch, rejects: readonly Reject[]): void {
    const vectors = this.keyFields.map((f) => batch.getChild(f.name)!);
    for (const r of rejects) {
      if (this.reasons.length >= MAX_REJECT_ROWS) {
        this.dropped++;
        continue;
      }
      vectors.forEach((v, k) => this.keys[k]!.push(v.get(r.row)));
      this.reasons.push(r.reason);
    }
  }

  get size(): number {
    return this.reasons.length;
  }
}

/** The values of REJECT_COLUMNS for one rejected row, in order; `reason` is the row's own. */
export function rejectValues(layout: SinkLayout, reason: string, rejectedAt: Date): (string | Date)[] {
  const values: Record<RejectColumn, string | Date> = {
    reason,
    job: layout.job,
    partition: layout.partition,
    shard: shardText(layout.shard),
    run_id: layout.runId,
    rejected_at: rejectedAt,
  };
  return REJECT_COLUMNS.map((c) => values[c.name]);
}

/** Rejected rows as an Arrow table: the key columns, then REJECT_COLUMNS. */
export function rejectsTable(rejects: RejectBuffer, layout: SinkLayout, rejectedAt: Date): Table {
  const columns: Record<string, Vector> = {};
  layout.keyFields.forEach((f, k) => (columns[f.name] = vectorFromArray(rejects.keys[k]!, f.type)));
  const shared = rejectValues(layout, '', rejectedAt);
  REJECT_COLUMNS.forEach((c, i) => {
    const v = shared[i]!;
    columns[c.name] =
      c.name === 'reason'
        ? vectorFromArray(rejects.reasons, new Utf8())
        : v instanceof Date
          ? vectorFromArray(new Array<number>(rejects.size).fill(v.getTime()), new TimestampMillisecond('UTC'))
          : vectorFromArray(new Array<string>(rejects.size).fill(v), new Utf8());
  });
  return new Table(columns);
}
