import { describe, expect, it } from 'vitest';
import { Float64, Table, vectorFromArray, type RecordBatch } from 'apache-arrow';
import { StatsCollector } from '../../src/stats/collector.js';
import { rebin } from '../../src/stats/grid.js';
import { mergeDistributions, mergeFeatures, mergeRunStats } from '../../src/stats/merge.js';
import type { RunStats } from '../../src/stats/types.js';

// Two shards' statistics merged must say what one run over both shards' rows would have said.

const floats = (xs: readonly (number | null)[]): RecordBatch =>
  new Table({ x: vectorFromArray(xs, new Float64()) }).batches[0]!;

function statsOf(scores: readonly number[], labels: readonly number[], x: readonly (number | null)[]): RunStats {
  const c = new StatsCollector();
  c.observePredictions([
    { column: 'score', sqlType: 'double precision', values: Float64Array.from(scores) },
    { column: 'label', sqlType: 'bigint', values: BigInt64Array.from(labels.map(BigInt)) },
  ]);
  c.observeFeatures(floats(x), ['x']);
  return c.result();
}

// Shard A: scores uniform on [0, 1), labels mostly 0; shard B: three times the rows on [2, 3), labels mostly 1.
const a = Array.from({ length: 1000 }, (_, i) => i / 1000);
const b = Array.from({ length: 3000 }, (_, i) => 2 + i / 3000);
const labelsA = a.map((_, i) => (i % 10 === 0 ? 1 : 0));
const labelsB = b.map((_, i) => (i % 4 === 0 ? 0 : 1));
const xA = a.map((v, i) => (i % 10 === 0 ? null : v));
const xB = b.map((v, i) => (i % 2 === 0 ? null : v * 10));
const sa = statsOf(a, labelsA, xA);
const sb = statsOf(b, labelsB, xB);
const union = statsOf([...a, ...b], [...labelsA, ...labelsB], [...xA, ...xB]);

describe('mergeDistributions', () => {
  const merged = mergeDistributions([sa.predictions.score!, sb.predictions.score!]);
  const whole = union.predictions.score!;

  it('gives the count, mean, std, min and max of the union exactly', () => {
    expect(merged.count).toBe(4000);
    expect(merged.mean).toBeCloseTo(whole.mean!, 10);
    expect(merged.std).toBeCloseTo(whole.std!, 10);
    expect([merged.min, merged.max]).toEqual([whole.min, whole.max]);
    expect(merged.kind).toBe('float');
  });

  it('sums the histograms on a grid both nest in: the union histogram re-binned there, exactly', () => {
    expect(rebin(whole.histogram, merged.histogram.edges)).toEqual(merged.histogram.counts);
    expect(merged.histogram.counts.reduce((x, y) => x + y, 0)).toBe(4000);
  });

  it('approximates the quantiles from each shard’s own (within 1% of the range here)', () => {
    // The union: 1000 rows on [0, 1), 3000 on [2, 3): p10 = 0.4, p25 at the gap between them, p50 ≈ 2.333, p90 ≈ 2.867.
    const range = whole.max! - whole.min!;
    for (const p of ['p10', 'p50', 'p75', 'p90', 'p99'])
      expect(Math.abs(merged.quantiles[p]! - whole.quantiles[p]!), p).toBeLessThan(0.01 * range);
    expect(merged.quantiles.p25).toBeGreaterThanOrEqual(0.98);
    expect(merged.quantiles.p25).toBeLessThanOrEqual(2.01);
  });

  it('sums class counts of labels; drops them past 20 classes or where a part has none', () => {
    const label = mergeDistributions([sa.predictions.label!, sb.predictions.label!]);
    expect(label.categories).toEqual(union.predictions.label!.categories);
    expect(label.categories).toEqual({ 0: 900 + 750, 1: 100 + 2250 });
    const { categories: _, ...older } = sb.predictions.label!;
    expect(mergeDistributions([sa.predictions.label!, older]).categories).toBeUndefined();
    const many = (from: number) => ({
      ...sa.predictions.label!,
      categories: Object.fromEntries(Array.from({ length: 15 }, (_, i) => [String(from + i), 1])),
    });
    expect(mergeDistributions([many(0), many(10)]).categories).toBeUndefined();
  });

  it('returns one part as it is, and nothing from empty parts', () => {
    expect(mergeDistributions([sa.predictions.score!])).toEqual(sa.predictions.score);
    const none = new StatsCollector();
    none.observePredictions([{ column: 'score', sqlType: 'double precision', values: new Float64Array(0) }]);
    const empty = none.result().predictions.score!;
    const m = mergeDistributions([empty, sa.predictions.score!]);
    expect([m.count, m.mean, m.std]).toEqual([1000, sa.predictions.score!.mean, sa.predictions.score!.std]);
  });
});

describe('mergeFeatures', () => {
  it('weights null rates by rows, means and stds by present values', () => {
    const m = mergeFeatures([
      { stats: sa.features.x!, rows: sa.features.x!.rows! },
      { stats: sb.features.x!, rows: sb.features.x!.rows! },
    ]);
    const whole = union.features.x!;
    expect(m.rows).toBe(4000);
    expect(m.null_rate).toBeCloseTo(whole.null_rate, 12); // (100 + 1500) / 4000
    expect(m.null_rate).toBeCloseTo(0.4, 12);
    expect(m.mean).toBeCloseTo(whole.mean!, 9);
    expect(m.std).toBeCloseTo(whole.std!, 9);
  });

  it('takes the row count it is given for runs recorded before features kept theirs', () => {
    const old = { null_rate: 0.5, mean: 3, std: 0, histogram: { edges: [3, 3], counts: [50] } };
    const m = mergeFeatures([
      { stats: old, rows: 100 },
      { stats: { ...old, null_rate: 0, mean: 1 }, rows: 50 },
    ]);
    expect(m.null_rate).toBeCloseTo(50 / 150, 12);
    expect(m.mean).toBeCloseTo((50 * 3 + 50 * 1) / 100, 12);
    expect(m.std).toBeCloseTo(Math.sqrt((50 * 1 + 50 * 1) / 99), 12);
  });
});

describe('mergeRunStats', () => {
  it('merges every column either run has, keeps the declared order, and leaves drift out', () => {
    const withDrift: RunStats = {
      ...sb,
      drift: { baseline_run_id: 'x', max_psi: 0.2, psi: { predictions: {}, features: {} }, drifted: [] },
    };
    const m = mergeRunStats([
      { stats: sa, rows: 1000 },
      { stats: withDrift, rows: 3000 },
    ]);
    expect(Object.keys(m.predictions).sort()).toEqual(['label', 'score']);
    expect(m.prediction_columns).toEqual(['score', 'label']);
    expect(m.drift).toBeUndefined();
    expect(m.predictions.score!.count).toBe(4000);
    expect(m.features.x!.rows).toBe(4000);
  });
});
