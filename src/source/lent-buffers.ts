import type { RecordBatch } from 'apache-arrow';
import { freeBuffers } from '../free-buffers.js';

/** The decoded buffers a source's batches view, and how many of those batches are still in use. */
interface Loan {
  readonly buffers: readonly ArrayBuffer[];
  pending: number;
}

const loans = new WeakMap<RecordBatch, Loan>();

/**
 * Marks `batches` as views of `buffers`, which the source owns and no other code reads: once the
 * run has finished with every one of them (`finished`), the buffers are freed at once instead of
 * at the main thread's next full garbage collection (free-buffers.ts). A batch never finished
 * (a run that stopped, a batch cut by --limit) leaves them to the collector.
 */
export function lend(batches: readonly RecordBatch[], buffers: readonly ArrayBuffer[]): void {
  if (batches.length === 0) return;
  const loan: Loan = { buffers, pending: batches.length };
  for (const b of batches) loans.set(b, loan);
}

/**
 * The run is done with `batch`: its scores are written and nothing it handed on views its
 * buffers (every sink and the rejects copy what they keep).
 */
export function finished(batch: RecordBatch): void {
  const loan = loans.get(batch);
  if (!loan) return;
  loans.delete(batch);
  if (--loan.pending === 0) freeBuffers(loan.buffers);
}
