import type { Field, RecordBatch } from 'apache-arrow';
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
