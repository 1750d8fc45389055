import {
  DataType,
  Table,
  TimestampMillisecond,
  Utf8,
  Vector,
  vectorFromArray,
  type Dictionary,
  type Field,
  type RecordBatch,
} from 'apache-arrow';
import { keyVector } from './arrow-chunk.js';
import { shardText } from '../ledger/record.js';
import { REJECT_COLUMNS, type RejectColumn } from '../output/columns.js';
import type { SinkLayout } from './sink.js';
import type { Reject } from '../tensors/to-feeds.js';

/** At most this many rejected rows are kept for writing; beyond it they are only counted. */
export const MAX_REJECT_ROWS = 1_000_000;

/**
 * Rejected rows waiting for publish: their key values and the reason, in source order. Bounded,
 * so a run that rejects everything still runs in constant memory (and fails max_reject_rate).
 * The keys are exact copies of the rejected rows, per batch, as the part files hold keys
 * (keyVector): through get() a timestamp was milliseconds and a list of ints zeros.
 */
export class RejectBuffer {
  /** Per key column, the copies of each batch's rejected rows. */
  private readonly chunks: Vector[][];
  readonly reasons: string[] = [];
  dropped = 0;

  constructor(readonly keyFields: readonly Field[]) {
    this.chunks = keyFields.map(() => []);
  }

  add(batch: RecordBatch, rejects: readonly Reject[]): void {
    const room = Math.max(0, MAX_REJECT_ROWS - this.reasons.length);
    const taken = rejects.slice(0, room);
    this.dropped += rejects.length - taken.length;
    if (taken.length === 0) return;
    const rows = Uint32Array.from(taken, (r) => r.row);
    this.keyFields.forEach((f, k) => this.chunks[k]!.push(keyVector(batch.getChild(f.name)!, rows)));
    for (const r of taken) this.reasons.push(r.reason);
  }

  get size(): number {
    return this.reasons.length;
  }

  /** Key column `k` of every rejected row kept, as one vector (of the key's plain type). */
  keys(k: number): Vector {
    const chunks = this.chunks[k]!;
    if (chunks.length > 0) return new Vector(chunks.flatMap((c) => c.data));
    const type = this.keyFields[k]!.type;
    return vectorFromArray([], DataType.isDictionary(type) ? (type as Dictionary).dictionary : type);
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
  layout.keyFields.forEach((f, k) => (columns[f.name] = rejects.keys(k)));
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
