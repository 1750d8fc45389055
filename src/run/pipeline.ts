import { performance } from 'node:perf_hooks';
import type { RecordBatch } from 'apache-arrow';
import type { ScorerPool } from '../scoring/scorer-pool.js';
import type { WireOutput } from '../tensors/wire.js';
import type { RunFingerprint } from '../ledger/record.js';
import type { ScoredChunk, Sink } from '../sink/sink.js';
import { toPredictions, type PredictionColumn } from '../tensors/from-outputs.js';
import { selectRows, toFeeds, type Reject } from '../tensors/to-feeds.js';
import type { RejectBuffer } from '../sink/rejects.js';
import { decodeDictionary } from '../sink/arrow-chunk.js';
import { averagePredictions, mergeRouted, routeRows } from './combine.js';
import type { JobPlan } from './plan-job.js';
import type { StatsCollector } from '../stats/collector.js';
import { dropNonFinite } from './non-finite.js';
import { finished } from '../source/lent-buffers.js';
import type { StageClock } from './stage-clock.js';

export interface Counters {
  rowsRead: number;
  rowsScored: number;
  rowsRejected: number;
  rowsFilled: number;
  rowsWritten: number;
  chunks: number;
}

export function newCounters(): Counters {
  return { rowsRead: 0, rowsScored: 0, rowsRejected: 0, rowsFilled: 0, rowsWritten: 0, chunks: 0 };
}

/** One model's share of a chunk: the rows it scores (source order) and its pending outputs. */
interface Part {
  readonly model: number;
  readonly keep: Uint32Array | undefined;
  readonly rows: number;
  readonly result: Promise<WireOutput[]>;
}

interface InFlight {
  readonly index: number;
  readonly batch: RecordBatch;
  readonly parts: readonly Part[];
  /** What reading this chunk added to the counters, which a checkpoint before it must not include. */
  readonly counted: { readonly read: number; readonly rejected: number; readonly filled: number };
}

/**
 * Backpressure policy: read ahead while fewer than this many chunks are being scored or waiting to
 * be written. Two per worker, so that each has the next chunk when it answers one (the pool posts
 * it ahead); with one worker, two in all (one scored while the last is written): a second posted
 * to the one worker ran slower (README, Performance).
 */
export function maxInFlight(parallelism: number): number {
  return parallelism > 1 ? 2 * parallelism : 2;
}

export interface PipelineOptions {
  /** Where rejected rows go when the job writes them (rejects:). */
  readonly rejects?: RejectBuffer;
  readonly limit?: number;
  readonly signal: AbortSignal;
  readonly onChunk?: (c: Counters) => void;
  /** Source chunks a resumed run already made durable: read past them without scoring. */
  readonly skipChunks?: number;
  /** Make progress durable after about this many rows (sink.checkpoint); undefined: never. */
  readonly checkpointRows?: number;
  readonly runId?: string;
  /** Recorded with each checkpoint, so --resume can refuse a run whose inputs changed. */
  readonly fingerprint?: RunFingerprint;
  readonly clock?: StageClock;
  /** One chunk in flight: every stage runs alone, so the clock gives each stage's own cost. */
  readonly serial?: boolean;
  /** The source's batches when the run started reading them early (prefetch.ts). */
  readonly batches?: AsyncIterator<RecordBatch>;
}

/** Sends one batch to the pool: one part per model that has rows to score. */
function submit(
  plan: JobPlan,
  pool: ScorerPool,
  batch: RecordBatch,
  index: number,
  firstRow: number,
  c: Counters,
  rejects?: RejectBuffer,
): Part[] {
  const { job } = plan;
  const reject = (rows: readonly Reject[]) => {
    c.rowsRejected += rows.length;
    if (rows.length > 0) rejects?.add(batch, rows);
  };
  const score = (model: number, candidates?: Uint32Array): Part => {
    const feeds = toFeeds(batch, plan.models[model]!.io.inputs, plan.nullPolicy, firstRow, candidates);
    reject(feeds.rejects);
    c.rowsFilled += feeds.filled;
    const io = plan.models[model]!.io;
    const result =
      feeds.rows === 0
        ? Promise.resolve([])
        : pool.score({ chunk: index, model, feeds: feeds.feeds, fetch: io.fetch, rowByRow: io.rowByRow });
    // Awaited in order by the drain; this only keeps an early failure from being "unhandled" meanwhile.
    result.catch(() => undefined);
    return { model, keep: feeds.keep, rows: feeds.rows, result };
  };
  const combine = job.combine;
  if (combine.mode === 'single') return [score(0)];
  if (combine.mode === 'route') {
    const { candidates, unrouted } = routeRows(batch, combine, plan.models.length);
    reject(unrouted);
    return candidates.flatMap((rows, m) => (rows.length > 0 ? [score(m, rows)] : []));
  }
  // mean / weighted: every model scores the same rows, those with no null in any model's features.
  const { keep, rejects: dropped } = selectRows(batch, plan.featureColumns, plan.nullPolicy, firstRow);
  reject(dropped);
  return plan.models.map((_, m) => score(m, keep));
}

/** Waits for a chunk's parts and turns them into one scored chunk in source order. */
async function collect(plan: JobPlan, head: InFlight, clock: StageClock | undefined): Promise<ScoredChunk> {
  // Plain values: a sink reads a key's buffers as they are stored, and a dictionary's are indices.
  const keys = plan.job.key.map((k) => decodeDictionary(head.batch.getChild(k)!));
  const t = performance.now();
  const outputs = await Promise.all(head.parts.map((p) => p.result));
  clock?.add('wait', performance.now() - t);
  const scored = head.parts.map((p, i) => ({
    ...p,
    predictions:
      p.rows === 0
        ? ([] as PredictionColumn[])
        : toPredictions(outputs[i]!, plan.models[p.model]!.io.outputs, p.rows, head.index),
  }));
  const combine = plan.job.combine;
  if (combine.mode === 'route') {
    const merged = mergeRouted(
      scored.map((p) => ({
        model: p.model,
        keep: p.keep ?? Uint32Array.from({ length: p.rows }, (_, i) => i),
        predictions: p.predictions,
      })),
      plan.outputs,
    );
    return {
      index: head.index,
      rows: merged.keep.length,
      keys,
      keep: merged.keep,
      predictions: merged.predictions,
      modelIndex: merged.modelIndex,
    };
  }
  const first = scored[0]!;
  const predictions =
    combine.mode === 'single' || first.rows === 0
      ? first.predictions
      : averagePredictions(
          scored.map((p) => p.predictions),
          combine.mode === 'weighted' ? plan.models.map((m) => m.spec.weight) : plan.models.map(() => 1),
        );
  return { index: head.index, rows: first.rows, keys, keep: first.keep, predictions };
}

/**
 * source → tensors → scorer pool → sink. Chunks are scored in parallel but written in source
 * order, so output is the same whatever the parallelism; at most maxInFlight chunks are held.
 * Counters are updated as chunks pass, so a failed run still reports how far it got.
 */
export async function runPipeline(
  plan: JobPlan,
  pool: ScorerPool,
  sink: Sink,
  stats: StatsCollector,
  c: Counters,
  options: PipelineOptions,
): Promise<void> {
  const queue: InFlight[] = [];
  const limit = options.limit ?? Infinity;
  // As many chunks in flight as the workers started so far take (the pool starts them as needed).
  const cap = () => (options.serial ? 1 : maxInFlight(Math.min(plan.job.parallelism, pool.workers)));

  const skip = options.skipChunks ?? 0;
  let sinceCheckpoint = 0;
  const outputOf = new Map(plan.outputs.map((o) => [o.column, o.output]));
  const clock = options.clock;
  const drainOne = async () => {
    const head = queue.shift()!;
    const collected = await collect(plan, head, clock);
    const t = performance.now();
    const checked = dropNonFinite(collected, (column) => outputOf.get(column) ?? column);
    const chunk = checked.chunk;
    if (checked.rejects.length > 0) {
      c.rowsRejected += checked.rejects.length;
      options.rejects?.add(head.batch, checked.rejects);
    }
    const t1 = performance.now();
    clock?.add('tensors', t1 - t);
    stats.observePredictions(chunk.predictions);
    const t2 = performance.now();
    clock?.add('stats', t2 - t1);
    await sink.write(chunk);
    finished(head.batch);
    c.rowsScored += chunk.rows;
    c.rowsWritten += chunk.rows;
    sinceCheckpoint += chunk.rows;
    if (options.checkpointRows !== undefined && sinceCheckpoint >= options.checkpointRows) {
      // Chunks are drained in source order, so every chunk up to this one is now in the sink; the
      // chunks read ahead of it are not, and neither are their counts.
      const ahead = (k: 'read' | 'rejected' | 'filled') => queue.reduce((n, q) => n + q.counted[k], 0);
      const { rowsScored, rowsWritten } = c;
      const rowsRead = c.rowsRead - ahead('read');
      const rowsRejected = c.rowsRejected - ahead('rejected');
      const rowsFilled = c.rowsFilled - ahead('filled');
      await sink.checkpoint({
        runId: options.runId ?? '',
        chunks: chunk.index + 1,
        batchSize: plan.job.batchSize,
        counters: { rowsRead, rowsScored, rowsRejected, rowsFilled, rowsWritten },
        ...(options.fingerprint ? { fingerprint: options.fingerprint } : {}),
      });
      sinceCheckpoint = 0;
    }
    clock?.add('write', performance.now() - t2);
    options.onChunk?.(c);
  };

  let index = 0;
  const batches = options.batches ?? plan.source.batches(options.signal)[Symbol.asyncIterator]();
  try {
    for (;;) {
      // A signal stops the run at the next chunk: the chunks already read (prefetched) are not
      // scored, only those in the workers finish (a 1.5M-row job went on for 17 s after SIGTERM).
      options.signal.throwIfAborted();
      const t0 = performance.now();
      const next = await batches.next();
      clock?.add('read', performance.now() - t0);
      options.signal.throwIfAborted();
      if (next.done) break;
      let batch = next.value;
      clock?.firstChunk();
      if (index < skip) {
        // Counters for these chunks came back with the checkpoint.
        index++;
        c.chunks = index;
        continue;
      }
      if (c.rowsRead >= limit) break;
      if (c.rowsRead + batch.numRows > limit) batch = batch.slice(0, limit - c.rowsRead);
      const firstRow = c.rowsRead;
      c.rowsRead += batch.numRows;
      const t1 = performance.now();
      stats.observeFeatures(batch, plan.featureColumns);
      const t2 = performance.now();
      clock?.add('stats', t2 - t1);
      c.chunks = index + 1;
      const before = { rejected: c.rowsRejected, filled: c.rowsFilled };
      const parts = submit(plan, pool, batch, index, firstRow, c, options.rejects);
      // The scoring tasks still to come (one per model a chunk is scored with), where the source
      // knows its rows or the run has a limit: the pool starts no worker for a run's last chunks.
      const total = Math.min(plan.source.totalRows ?? Infinity, limit);
      const chunksLeft = Math.ceil(Math.max(0, total - c.rowsRead) / batch.numRows);
      pool.expectTasks(Number.isFinite(total) ? chunksLeft * Math.max(1, parts.length) : undefined);
      clock?.add('tensors', performance.now() - t2);
      const counted = {
        read: batch.numRows,
        rejected: c.rowsRejected - before.rejected,
        filled: c.rowsFilled - before.filled,
      };
      queue.push({ index, batch, parts, counted });
      index++;
      while (queue.length >= cap()) await drainOne();
    }
    while (queue.length > 0) await drainOne();
  } finally {
    // An early stop (--limit, a failure) closes the source, as for-await would.
    await batches.return?.(undefined).catch(() => undefined);
    // On failure, let chunks already handed to workers finish before the pool is torn down:
    // terminating a worker inside onnxruntime's run can take the whole process down.
    await Promise.allSettled(queue.flatMap((q) => q.parts.map((p) => p.result)));
  }
}
