import { mergeRunStats } from '../stats/merge.js';
import type { RunRecord } from './record.js';

// Which runs a drift check compares with, and how several runs become one baseline. Pure: the
// Postgres ledger and the Parquet sink each read the candidate runs, then ask this module.
//
// `previous` is the job's nearest earlier partition (partition values compared code point by
// code point, as COLLATE "C" does: ISO dates in date order), all of its shards together. Of that
// partition's succeeded runs, replayed in the order they finished, each unsharded run replaces
// everything and each run of shard I/N replaces shard I/N and whatever was written under another
// shard count (as publishing does). The baseline is the most recent complete set this replay
// passes through: the one unsharded run, or one run of each of the N shards of one count; so a
// re-scoring under another count that is still missing shards leaves the older complete set as
// the baseline. A partition that never had a complete set (or whose older records are gone)
// gives the shards it has now. Several runs are merged into one record whose run_id joins theirs
// with "+" (run ids cannot contain "+"), which is also a valid ref: the report rebuilds the same
// baseline from it.

/** The part of a run's key the choice needs: a shard is compared with its whole earlier partition. */
export interface BaselineKey {
  readonly job: string;
  readonly partition: string;
}

/** Shard count of a ledger shard text "I/N" ("0/1" when unreadable). */
function shardOf(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  return m ? { index: Number(m[1]), count: Number(m[2]) } : { index: 0, count: 1 };
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The runs of one partition whose rows make up its newest complete state (see above). */
export function completeSet(runs: readonly RunRecord[]): RunRecord[] {
  const ordered = [...runs].sort(
    (a, b) => byText(a.finished_at ?? '', b.finished_at ?? '') || byText(a.run_id, b.run_id),
  );
  const live = new Map<number, RunRecord>();
  let count = 1;
  let complete: RunRecord[] | undefined;
  for (const run of ordered) {
    const shard = shardOf(run.shard);
    if (shard.count !== count || shard.count === 1) live.clear();
    count = shard.count;
    live.set(shard.index, run);
    if (live.size === count) complete = [...live.values()];
  }
  return (complete ?? [...live.values()]).sort((a, b) => shardOf(a.shard).index - shardOf(b.shard).index);
}

/**
 * Several runs of one partition as one record: counters summed, statistics merged (see
 * stats/merge.ts), run_id and shard joined with "+". One run is returned as it is.
 */
export function mergeRuns(runs: readonly RunRecord[]): RunRecord | undefined {
  if (runs.length <= 1) return runs[0];
  const newest = runs.reduce((a, b) => (byText(b.finished_at ?? '', a.finished_at ?? '') > 0 ? b : a));
  const sum = (pick: (r: RunRecord) => number) => runs.reduce((s, r) => s + pick(r), 0);
  const stats = runs.every((r) => r.stats)
    ? mergeRunStats(runs.map((r) => ({ stats: r.stats!, rows: r.rows_read })))
    : null;
  return {
    ...newest,
    run_id: runs.map((r) => r.run_id).join('+'),
    shard: runs.map((r) => r.shard).join('+'),
    started_at: runs.map((r) => r.started_at).sort(byText)[0]!,
    finished_at:
      runs
        .map((r) => r.finished_at ?? '')
        .sort(byText)
        .at(-1) || null,
    rows_read: sum((r) => r.rows_read),
    rows_scored: sum((r) => r.rows_scored),
    rows_rejected: sum((r) => r.rows_rejected),
    rows_written: sum((r) => r.rows_written),
    error: null,
    stats,
  };
}

/**
 * The baseline of a run of `key`: for `previous`, the nearest earlier partition's complete set of
 * runs among `runs` (any superset of that partition's runs will do), merged; otherwise `ref` is a
 * run id, or run ids joined with "+", all of which must be in `runs`.
 */
export function chooseBaseline(runs: readonly RunRecord[], key: BaselineKey, ref: string): RunRecord | undefined {
  if (ref !== 'previous') {
    const named = ref.split('+').map((id) => runs.find((r) => r.run_id === id));
    return named.every((r) => r !== undefined) ? mergeRuns(named) : undefined;
  }
  const earlier = runs.filter(
    (r) => r.job === key.job && r.status === 'succeeded' && r.stats && byText(r.partition, key.partition) < 0,
  );
  const nearest = earlier
    .map((r) => r.partition)
    .sort(byText)
    .at(-1);
  return mergeRuns(completeSet(earlier.filter((r) => r.partition === nearest)));
}

/** How messages name a baseline: "run ID", or for merged shards "runs A+B (the 2 shards of partition P)". */
export function describeBaseline(base: RunRecord): string {
  const n = base.run_id.split('+').length;
  return n === 1 ? `run ${base.run_id}` : `runs ${base.run_id} (${n} shards of partition ${base.partition})`;
}

/**
 * The trend of a job up to `run`: one point per partition, in partition order (a backfill takes
 * its place among the days, not after them), each the partition's complete set of succeeded runs
 * merged (shards together). The run's own partition is the run itself where it did not succeed,
 * else its complete set. The last `last` partitions.
 */
export function partitionTrend(history: readonly RunRecord[], run: RunRecord, last: number): RunRecord[] {
  const byPartition = new Map<string, RunRecord[]>();
  for (const r of history) {
    if (r.job !== run.job || r.status !== 'succeeded' || byText(r.partition, run.partition) > 0) continue;
    if (r.run_id === run.run_id) continue;
    byPartition.set(r.partition, [...(byPartition.get(r.partition) ?? []), r]);
  }
  const own = byPartition.get(run.partition) ?? [];
  byPartition.set(run.partition, run.status === 'succeeded' ? [...own, run] : []);
  const points = [...byPartition]
    .sort(([a], [b]) => byText(a, b))
    .map(([partition, runs]) =>
      partition === run.partition && run.status !== 'succeeded' ? run : mergeRuns(completeSet(runs)),
    )
    .filter((r): r is RunRecord => r !== undefined);
  return points.slice(-last);
}
