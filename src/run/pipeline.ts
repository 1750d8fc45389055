import type { RecordBatch } from 'apache-arrow';
import type { ScorerPool } from '../scoring/scorer-pool.js';
import type { ScoredChunk, Sink } from '../sink/sink.js';
import { toPredictions } from '../tensors/from-outputs.js';
import { toFeeds } from '../tensors/to-feeds.js';
import type { JobPlan } from './plan-job.js';
import type { StatsCollector } from './stats.js';
import type { WireOutput } from '../scoring/wire.js';

export interface Counters {
  rowsRead: number;
  rowsScored: number;
  rowsRejected: number;
  rowsFilled: number;
  rowsWritten: number;
  chunks: number;
}

interface InFlight {
  readonly index: number;
  readonly batch: RecordBatch;
  readonly keep: Uint32Array | undefined;
  readonly rows: number;
  readonly result: Promise<WireOutput[]>;
}

/** Backpressure policy: read ahead while fewer than this many chunks are being scored or waiting to be written. */
export function maxInFlight(parallelism: number): number {
  return Math.max(2, 2 * parallelism);
}

export function newCounters(): Counters {
  return { rowsRead: 0, rowsScored: 0, rowsRejected: 0, rowsFilled: 0, rowsWritten: 0, chunks: 0 };
}

export interface PipelineOptions {
  readonly limit?: number;
  readonly signal: AbortSignal;
  readonly onChunk?: (c: Counters) => void;
}

/**
 * source → tensors → scorer pool → sink. Chunks are scored in parallel but written in source
 * order, so output is the same whatever the parallelism; at most maxInFlight chunks are held.
 * Counters are updated as chunks pass, so a failed run still reports how far it got.
 */
export async function runPipeline(plan: JobPlan, pool: ScorerPool, sink: Sink, stats: StatsCollector, c: Counters, options: PipelineOptions): Promise<void> {
  const queue: InFlight[] = [];
  const limit = options.limit ?? Infinity;
  const cap = maxInFlight(plan.job.parallelism);
  const keyNames = plan.job.key;

  const drainOne = async () => {
    const head = queue.shift()!;
    const outputs = await head.result;
    const predictions = head.rows === 0 ? [] : toPredictions(outputs, plan.io.outputs, head.rows, head.index);
    stats.observePredictions(predictions);
    const chunk: ScoredChunk = { index: head.index, rows: head.rows, keys: keyNames.map((k) => head.batch.getChild(k)!), keep: head.keep, predictions };
    await sink.write(chunk);
    c.rowsWritten += head.rows;
    options.onChunk?.(c);
  };

  try {
    for await (let batch of plan.source.batches(options.signal)) {
      if (c.rowsRead >= limit) break;
      if (c.rowsRead + batch.numRows > limit) batch = batch.slice(0, limit - c.rowsRead);
      const firstRow = c.rowsRead;
      c.rowsRead += batch.numRows;
      stats.observeFeatures(batch, plan.featureColumns);
      const feeds = toFeeds(batch, plan.io.inputs, plan.job.onNull, firstRow);
      c.rowsRejected += feeds.rejected;
      c.rowsFilled += feeds.filled;
      c.rowsScored += feeds.rows;
      const index = c.chunks++;
      const result = feeds.rows === 0 ? Promise.resolve([]) : pool.score({ chunk: index, feeds: feeds.feeds, fetch: plan.io.fetch, rowByRow: plan.io.rowByRow });
      // Awaited in order by drainOne; this only keeps an early failure from being "unhandled" meanwhile.
      result.catch(() => undefined);
      queue.push({ index, batch, keep: feeds.keep, rows: feeds.rows, result });
      while (queue.length >= cap) await drainOne();
    }
    while (queue.length > 0) await drainOne();
  } finally {
    for (const q of queue) q.result.catch(() => undefined);
  }
}
