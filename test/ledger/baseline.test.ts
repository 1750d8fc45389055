import { describe, expect, it } from 'vitest';
import { chooseBaseline, completeSet, describeBaseline, mergeRuns, partitionTrend } from '../../src/ledger/baseline.js';
import { newRunRecord, type RunRecord } from '../../src/ledger/record.js';
import { StatsCollector } from '../../src/stats/collector.js';

// Which runs `baseline: previous` compares with, and the one record several shards become.

let clock = 0;
/** A succeeded run with stats; each one finishes after the one made before it. */
function run(id: string, partition: string, shard = '0/1', over: Partial<RunRecord> = {}): RunRecord {
  const c = new StatsCollector();
  c.observePredictions([{ column: 'score', sqlType: 'double precision', values: Float64Array.from([id.length]) }]);
  const at = new Date(Date.UTC(2024, 0, 1, 0, 0, clock++)).toISOString();
  return {
    ...newRunRecord({
      run_id: id,
      job: 'j',
      partition,
      shard,
      params: {},
      model_name: 'm',
      model_version: '1',
      model_sha256: 'x',
      started_at: at,
    }),
    status: 'succeeded',
    finished_at: at,
    rows_read: 10,
    rows_written: 10,
    stats: c.result(),
    ...over,
  };
}
const ids = (runs: readonly RunRecord[]) => runs.map((r) => r.run_id);
const key = { job: 'j', partition: '2024-01-05', shard: { index: 1, count: 2 } };

describe('completeSet', () => {
  it('is the one unsharded run, or one run of each shard of one count', () => {
    expect(ids(completeSet([run('a', 'p')]))).toEqual(['a']);
    expect(ids(completeSet([run('s1', 'p', '1/2'), run('s0', 'p', '0/2')]))).toEqual(['s0', 's1']);
  });

  it('follows publishing: a shard re-run replaces its shard, an unsharded run replaces all shards', () => {
    const runs = [run('s0', 'p', '0/2'), run('s1', 'p', '1/2'), run('s1b', 'p', '1/2')];
    expect(ids(completeSet(runs))).toEqual(['s0', 's1b']);
    expect(ids(completeSet([...runs, run('all', 'p')]))).toEqual(['all']);
    expect(ids(completeSet([run('all', 'p'), run('t0', 'p', '0/2'), run('t1', 'p', '1/2')]))).toEqual(['t0', 't1']);
  });

  it('keeps the newest complete set while a re-scoring under another count is unfinished', () => {
    const two = [run('s0', 'p', '0/2'), run('s1', 'p', '1/2')];
    expect(ids(completeSet([...two, run('t0', 'p', '0/3'), run('t2', 'p', '2/3')]))).toEqual(['s0', 's1']);
    expect(ids(completeSet([run('all', 'p'), run('t0', 'p', '0/3')]))).toEqual(['all']);
  });

  it('gives the shards there are when the partition never was complete', () => {
    expect(ids(completeSet([run('t0', 'p', '0/3'), run('t2', 'p', '2/3')]))).toEqual(['t0', 't2']);
  });
});

describe('chooseBaseline', () => {
  it('for previous: the nearest earlier partition of the job, all its shards merged', () => {
    const runs = [
      run('old', '2024-01-01'),
      run('d0', '2024-01-03', '0/2'),
      run('d1', '2024-01-03', '1/2'),
      run('later', '2024-01-06'),
      run('same-day', '2024-01-05', '0/2'),
      run('other-job', '2024-01-04', '0/1', { job: 'k' }),
      run('failed', '2024-01-04', '0/1', { status: 'failed' }),
      run('no-stats', '2024-01-04', '0/1', { stats: null }),
    ];
    const base = chooseBaseline(runs, key, 'previous')!;
    expect([base.run_id, base.partition, base.shard]).toEqual(['d0+d1', '2024-01-03', '0/2+1/2']);
    expect(chooseBaseline(runs, { ...key, partition: '2024-01-01' }, 'previous')).toBeUndefined();
    expect(chooseBaseline(runs, { ...key, partition: '2024-01-02' }, 'previous')!.run_id).toBe('old');
  });

  it('compares partitions code point by code point, as COLLATE "C" does', () => {
    const runs = [run('upper', 'B'), run('lower', 'a')];
    expect(chooseBaseline(runs, { ...key, partition: 'b' }, 'previous')!.run_id).toBe('lower');
    expect(chooseBaseline(runs, { ...key, partition: 'a' }, 'previous')!.run_id).toBe('upper');
  });

  it('for a run id: that run; for ids joined with "+": those runs merged; undefined when one is missing', () => {
    const runs = [run('x0', 'p', '0/2'), run('x1', 'p', '1/2')];
    expect(chooseBaseline(runs, key, 'x1')).toBe(runs[1]);
    expect(chooseBaseline(runs, key, 'x0+x1')!.run_id).toBe('x0+x1');
    expect(chooseBaseline(runs, key, 'x0+nope')).toBeUndefined();
    expect(chooseBaseline(runs, key, 'nope')).toBeUndefined();
  });
});

describe('mergeRuns', () => {
  it('sums the counters, merges the stats and names every run', () => {
    const m = mergeRuns([run('r0', 'p', '0/2'), run('r1', 'p', '1/2', { rows_read: 30, rows_written: 25 })])!;
    expect(m).toMatchObject({
      run_id: 'r0+r1',
      shard: '0/2+1/2',
      status: 'succeeded',
      rows_read: 40,
      rows_written: 35,
      error: null,
    });
    expect(m.stats!.predictions.score).toMatchObject({ count: 2, mean: 2, min: 2, max: 2 });
    expect(Date.parse(m.started_at)).toBeLessThan(Date.parse(m.finished_at!));
    expect(describeBaseline(m)).toBe('runs r0+r1 (2 shards of partition p)');
  });

  it('returns a single run unchanged', () => {
    const one = run('solo', 'p');
    expect(mergeRuns([one])).toBe(one);
    expect(mergeRuns([])).toBeUndefined();
    expect(describeBaseline(one)).toBe('run solo');
  });
});

describe('partitionTrend', () => {
  it('gives one point per partition in partition order, shards merged, a backfill among the days', () => {
    const history = [
      run('d1', '2024-01-01'),
      run('d3s0', '2024-01-03', '0/2'),
      run('d3s1', '2024-01-03', '1/2'),
      run('d4', '2024-01-04'),
      run('d2', '2024-01-02'), // a backfill, finished last
      run('d9', '2024-01-09'), // after the run the report is about: not in its trend
      run('d4f', '2024-01-04', '0/1', { status: 'failed' }),
    ];
    const current = history[3]!;
    const points = partitionTrend(history, current, 10);
    expect(points.map((p) => [p.partition, p.run_id])).toEqual([
      ['2024-01-01', 'd1'],
      ['2024-01-02', 'd2'],
      ['2024-01-03', 'd3s0+d3s1'],
      ['2024-01-04', 'd4'],
    ]);
    expect(partitionTrend(history, current, 2).map((p) => p.partition)).toEqual(['2024-01-03', '2024-01-04']);
    // A failed run is its own partition's point: it is what the report is about.
    const failed = history[6]!;
    expect(partitionTrend(history, failed, 10).at(-1)!.run_id).toBe('d4f');
  });
});
