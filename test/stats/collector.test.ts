import { describe, expect, it } from 'vitest';
import {
  Bool,
  Float16,
  Float64,
  Int32,
  Int64,
  Table,
  Utf8,
  vectorFromArray,
  type DataType,
  type RecordBatch,
} from 'apache-arrow';
import { StatsCollector } from '../../src/stats/collector.js';
import type { RunStats } from '../../src/stats/types.js';
import type { PredictionColumn } from '../../src/tensors/from-outputs.js';

/** Two-pass reference statistics over the finite values, computed independently of the collector. */
function reference(values: readonly number[]) {
  const xs = values.filter((v) => Number.isFinite(v));
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const ss = xs.reduce((a, b) => a + (b - mean) * (b - mean), 0);
  return {
    count: n,
    mean,
    std: n > 1 ? Math.sqrt(ss / (n - 1)) : 0,
    min: Math.min(...xs),
    max: Math.max(...xs),
  };
}

const score = (values: number[], column = 'score'): PredictionColumn => ({
  column,
  sqlType: 'double precision',
  values: Float64Array.from(values),
});

const batchOf = (columns: Record<string, readonly unknown[]>, types: Record<string, DataType>): RecordBatch =>
  new Table(Object.fromEntries(Object.entries(columns).map(([k, v]) => [k, vectorFromArray(v, types[k]!)])))
    .batches[0]!;

describe('StatsCollector: predictions', () => {
  it('gives count, mean, sample std, min, max, quantiles and a histogram of 0..100', () => {
    const values = Array.from({ length: 101 }, (_, i) => i);
    const c = new StatsCollector();
    c.observePredictions([score(values)]);
    const d = c.result().predictions.score!;
    const ref = reference(values);
    expect(d.count).toBe(101);
    expect(d.mean).toBe(50);
    // Σ(i−50)² over 0..100 = 2·Σk² (k=1..50) = 2·50·51·101/6 = 85850; / 100 = 858.5
    expect(d.std).toBeCloseTo(Math.sqrt(858.5), 12);
    expect(d.std).toBeCloseTo(ref.std, 12);
    expect([d.min, d.max]).toEqual([0, 100]);
    // Every value is in the sample: the p-th quantile of 0..100 is p.
    expect(d.quantiles).toEqual({ p1: 1, p5: 5, p10: 10, p25: 25, p50: 50, p75: 75, p90: 90, p95: 95, p99: 99 });
    // The grid: the narrowest power-of-two width that covers 0..100 in at most 12 bins is 16.
    expect(d.histogram.edges).toEqual(Array.from({ length: 8 }, (_, i) => i * 16));
    // Six bins of sixteen; the last, closed bin holds 96..100.
    expect(d.histogram.counts).toEqual([...Array<number>(6).fill(16), 5]);
  });

  it('skips NaN and infinities, and reads bigint and boolean predictions as numbers', () => {
    const c = new StatsCollector();
    c.observePredictions([
      score([NaN, 1, Infinity, 3, -Infinity]),
      { column: 'label', sqlType: 'bigint', values: BigInt64Array.from([1n, 2n, 6n]) },
      { column: 'flag', sqlType: 'boolean', values: Uint8Array.from([1, 0, 1, 1]) },
      { column: 'name', sqlType: 'text', values: ['a', 'b'] },
    ]);
    const result = c.result();
    const r = result.predictions;
    expect(Object.keys(r).sort()).toEqual(['flag', 'label', 'name', 'score']);
    expect(result.prediction_columns).toEqual(['score', 'label', 'flag', 'name']);
    expect([r.score!.count, r.score!.mean, r.score!.std, r.score!.min, r.score!.max]).toEqual([2, 2, Math.SQRT2, 1, 3]);
    expect([r.label!.count, r.label!.mean, r.label!.min, r.label!.max]).toEqual([3, 3, 1, 6]);
    expect(r.label!.std).toBeCloseTo(Math.sqrt(7), 12); // ((−2)² + (−1)² + 3²) / 2 = 7
    expect([r.flag!.count, r.flag!.mean]).toEqual([4, 0.75]);
    // Labels also count their classes; a score never does.
    expect([r.score!.kind, r.score!.categories]).toEqual(['float', undefined]);
    expect([r.label!.kind, r.label!.categories]).toEqual(['integer', { 1: 1, 2: 1, 6: 1 }]);
    expect([r.flag!.kind, r.flag!.categories]).toEqual(['boolean', { false: 1, true: 3 }]);
    expect(r.name).toEqual({
      count: 2,
      mean: null,
      std: null,
      min: null,
      max: null,
      quantiles: {},
      histogram: { edges: [], counts: [] },
      kind: 'text',
      categories: { a: 1, b: 1 },
    });
  });

  it('counts the classes of a label up to 20 distinct values, then stops', () => {
    const c = new StatsCollector();
    const label = (n: number) => ({
      column: 'label',
      sqlType: 'bigint' as const,
      values: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)),
    });
    c.observePredictions([label(20), { column: 'word', sqlType: 'text', values: ['x', 'y', 'x'] }]);
    expect(Object.keys(c.result().predictions.label!.categories!)).toHaveLength(20);
    expect(c.result().predictions.word!.categories).toEqual({ x: 2, y: 1 });
    c.observePredictions([label(21)]);
    expect(c.result().predictions.label!.categories).toBeUndefined();
    expect(c.result().predictions.label!.count).toBe(41);
  });

  it('lists text columns after numeric ones, so the first entry is a number, and keeps the declared order apart', () => {
    const c = new StatsCollector();
    c.observePredictions([{ column: 'output_label', sqlType: 'text', values: ['a'] }, score([0.5], 'probability_a')]);
    const r = c.result();
    expect(Object.keys(r.predictions)).toEqual(['probability_a', 'output_label']);
    expect(r.prediction_columns).toEqual(['output_label', 'probability_a']);
  });

  it('reports one value with std 0 and no value with nulls', () => {
    const c = new StatsCollector();
    c.observePredictions([score([7], 'one'), score([], 'none'), score([NaN], 'nan')]);
    const r = c.result().predictions;
    expect(r.one).toMatchObject({ count: 1, mean: 7, std: 0, min: 7, max: 7, quantiles: { p50: 7 } });
    const empty = {
      count: 0,
      mean: null,
      std: null,
      min: null,
      max: null,
      quantiles: {},
      histogram: { edges: [], counts: [] },
      kind: 'float',
    };
    expect(r.none).toEqual(empty);
    expect(r.nan).toEqual(empty);
  });

  it('gives the same moments however the rows are split into batches', () => {
    const values = Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 100 + i / 7);
    const whole = new StatsCollector();
    whole.observePredictions([score(values)]);
    const split = new StatsCollector();
    for (const [a, b] of [
      [0, 1],
      [1, 300],
      [300, 301],
      [301, 1000],
    ] as const)
      split.observePredictions([score(values.slice(a, b))]);
    const ref = reference(values);
    for (const d of [whole.result().predictions.score!, split.result().predictions.score!]) {
      expect(d.count).toBe(1000);
      expect(d.mean).toBeCloseTo(ref.mean, 10);
      expect(d.std).toBeCloseTo(ref.std, 10);
      expect([d.min, d.max]).toEqual([ref.min, ref.max]);
    }
    expect(split.result()).toEqual(whole.result());
  });

  it('keeps exact moments past the reservoir, and the same input gives the same stats', () => {
    // 30 000 values: more than the 10 000-value reservoir, so sampling (seeded) decides the quantiles.
    const values = Array.from({ length: 30_000 }, (_, i) => (i * 7919) % 1000);
    const run = () => {
      const c = new StatsCollector();
      for (let i = 0; i < values.length; i += 4096) c.observePredictions([score(values.slice(i, i + 4096))]);
      return c.result();
    };
    const a = run();
    const b = run();
    expect(b).toEqual(a);
    const d = a.predictions.score!;
    const ref = reference(values);
    expect(d.count).toBe(30_000);
    expect(d.mean).toBeCloseTo(499.5, 9); // each of 0..999 appears 30 times (7919 is prime to 1000)
    expect(d.std).toBeCloseTo(ref.std, 9);
    expect([d.min, d.max]).toEqual([0, 999]);
    // A uniform sample of a uniform 0..999: quantiles near p·10, bins near 3000.
    expect(d.quantiles.p50).toBeGreaterThan(470);
    expect(d.quantiles.p50).toBeLessThan(530);
    expect(d.quantiles.p10).toBeGreaterThan(70);
    expect(d.quantiles.p10).toBeLessThan(130);
    const total = d.histogram.counts.reduce((x, y) => x + y, 0);
    expect(Math.abs(total - 30_000)).toBeLessThanOrEqual(10);
    // Width 128 over 0..1023: seven bins of 128 values (×30 rows each), the last holds 896..999.
    expect(d.histogram.edges).toEqual(Array.from({ length: 9 }, (_, i) => i * 128));
    d.histogram.counts.forEach((n, i) => expect(Math.abs(n - (i < 7 ? 3840 : 3120))).toBeLessThan(300));
  });
});

describe('StatsCollector: features', () => {
  it('counts nulls, NaN and infinities as missing, on the fast path and the null-aware path alike', () => {
    const fast = batchOf({ x: [1, 2, NaN, 3, 4, Infinity] }, { x: new Float64() }); // no nulls
    const slow = batchOf({ x: [1, 2, null, 3, 4, NaN] }, { x: new Float64() }); // one null
    expect(fast.getChild('x')!.nullCount).toBe(0);
    expect(slow.getChild('x')!.nullCount).toBe(1);
    const ref = reference([1, 2, 3, 4]);
    for (const b of [fast, slow]) {
      const c = new StatsCollector();
      c.observeFeatures(b, ['x']);
      const f = c.result().features.x!;
      expect(f.null_rate).toBeCloseTo(2 / 6, 15);
      expect(f.mean).toBe(2.5);
      expect(f.std).toBeCloseTo(ref.std, 12);
      expect(f.std).toBeCloseTo(Math.sqrt(5 / 3), 12);
      // Edges 1, 1.25, …, 4: 1 → bin 0, 2 → bin 4, 3 → bin 8, 4 → the closed last bin.
      expect(f.histogram.edges).toEqual(Array.from({ length: 13 }, (_, i) => 1 + i / 4));
      expect(f.histogram.counts).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1]);
      expect(f.rows).toBe(6);
    }
  });

  it('summarises int32 and int64 columns, and only counts nulls of other types', () => {
    const b = batchOf(
      {
        i: [10, 20, 30, 40],
        j: [10n, 20n, null, 30n],
        s: ['a', null, null, 'b'],
        flag: [true, null, false, true],
      },
      { i: new Int32(), j: new Int64(), s: new Utf8(), flag: new Bool() },
    );
    const c = new StatsCollector();
    c.observeFeatures(b, ['i', 'j', 's', 'flag', 'absent']);
    const f = c.result().features;
    expect(Object.keys(f)).toEqual(['i', 'j', 's', 'flag']);
    expect(f.i).toMatchObject({ null_rate: 0, mean: 25 });
    expect(f.i!.std).toBeCloseTo(Math.sqrt(500 / 3), 12); // (225+25+25+225)/3
    expect(f.j).toMatchObject({ null_rate: 0.25, mean: 20, std: 10 });
    expect(f.s).toEqual({ null_rate: 0.5, mean: null, std: null, histogram: { edges: [], counts: [] }, rows: 4 });
    expect(f.flag).toEqual({ null_rate: 0.25, mean: null, std: null, histogram: { edges: [], counts: [] }, rows: 4 });
  });

  it('reads a float16 feature as numbers, NaN as missing', () => {
    const c = new StatsCollector();
    c.observeFeatures(batchOf({ h: [0.5, 1, -2, 2.5, NaN] }, { h: new Float16() }), ['h']);
    expect(c.result().features.h).toMatchObject({ null_rate: 0.2, mean: 0.5 });
  });

  it('merges batches (Chan et al.) to the two-pass mean and std, null rate over all rows', () => {
    const all: (number | null)[] = Array.from({ length: 3000 }, (_, i) => (i % 97 === 0 ? null : (i % 13) * 1.5 - 4));
    const c = new StatsCollector();
    // Batches without nulls take the fast path, the others the null-aware one: mix both.
    const cuts = [0, 96, 97, 500, 1940, 1941, 3000];
    for (let k = 0; k + 1 < cuts.length; k++)
      c.observeFeatures(batchOf({ x: all.slice(cuts[k], cuts[k + 1]) }, { x: new Float64() }), ['x']);
    const f = c.result().features.x!;
    const present = all.filter((v): v is number => v !== null);
    const ref = reference(present);
    expect(f.null_rate).toBeCloseTo((all.length - present.length) / all.length, 15);
    expect(f.mean).toBeCloseTo(ref.mean, 10);
    expect(f.std).toBeCloseTo(ref.std, 10);
    // Histogram: scaled from the sample back to the row count.
    const total = f.histogram.counts.reduce((x, y) => x + y, 0);
    expect(Math.abs(total - present.length)).toBeLessThanOrEqual(10);
  });

  it('samples a long batch with a stride and scales its histogram to the row count', () => {
    const values = Array.from({ length: 5000 }, (_, i) => i);
    const c = new StatsCollector();
    c.observeFeatures(batchOf({ x: values }, { x: new Float64() }), ['x']);
    const f = c.result().features.x!;
    expect(f.mean).toBe(2499.5);
    // Width 512 over 0..5119: nine bins of 512 values, the last holds 4608..4999.
    expect(f.histogram.edges).toEqual(Array.from({ length: 11 }, (_, i) => i * 512));
    f.histogram.counts.forEach((n, i) => expect(Math.abs(n - (i < 9 ? 512 : 392))).toBeLessThanOrEqual(4));
    expect(Math.abs(f.histogram.counts.reduce((x, y) => x + y, 0) - 5000)).toBeLessThanOrEqual(5);
  });

  it('is deterministic: the same batches give the same stats', () => {
    const run = () => {
      const c = new StatsCollector();
      for (let k = 0; k < 5; k++) {
        const xs = Array.from({ length: 4000 }, (_, i) => ((i * 31 + k * 17) % 211) / 3);
        c.observeFeatures(batchOf({ x: xs }, { x: new Float64() }), ['x']);
        c.observePredictions([score(xs.map((v) => v / 70))]);
      }
      return c.result();
    };
    expect(run()).toEqual(run());
  });

  it('keeps the std of a large-offset column on the null-aware path', () => {
    // Epoch seconds, ids... a big common offset and a small spread: the true std is 1.
    const c = new StatsCollector();
    c.observeFeatures(batchOf({ x: [1e9 + 1, null, 1e9 + 2, 1e9 + 3] }, { x: new Float64() }), ['x']);
    expect(c.result().features.x!.std).toBeCloseTo(1, 9);
  });

  it('keeps the std of a large-offset column on the fast path (no nulls)', () => {
    const c = new StatsCollector();
    c.observeFeatures(batchOf({ x: [1e9 + 1, 1e9 + 2, 1e9 + 3] }, { x: new Float64() }), ['x']);
    expect(c.result().features.x!.std).toBeCloseTo(1, 9);
  });

  it('reads a sliced batch (data.offset > 0) correctly', () => {
    const b = batchOf({ x: [1, 2, 3, 4, 5, 6] }, { x: new Float64() }).slice(2, 5); // 3, 4, 5
    expect(b.getChild('x')!.data[0]!.offset).toBe(2);
    const c = new StatsCollector();
    c.observeFeatures(b, ['x']);
    expect(c.result().features.x).toMatchObject({ null_rate: 0, mean: 4, std: 1 });
  });
});

describe('StatsCollector.drift', () => {
  // A baseline run's stats, written by hand: the edges and counts are what the PSI is taken against.
  const baseline: RunStats = {
    predictions: {
      score: {
        count: 100,
        mean: 1,
        std: 0.5,
        min: 0,
        max: 2,
        quantiles: {},
        histogram: { edges: [0, 1, 2], counts: [50, 50] },
      },
      gone: { count: 1, mean: 1, std: 0, min: 1, max: 1, quantiles: {}, histogram: { edges: [0, 2], counts: [1] } },
    },
    features: {
      x: { null_rate: 0, mean: 5, std: 1, histogram: { edges: [0, 10, 20], counts: [10, 10] } },
      y: { null_rate: 0, mean: 5, std: 1, histogram: { edges: [0, 10, 20], counts: [50, 50] } },
      same: { null_rate: 0, mean: 1.5, std: 1, histogram: { edges: [0, 1, 2, 3], counts: [1, 2, 1] } },
      empty: { null_rate: 1, mean: null, std: null, histogram: { edges: [], counts: [] } },
    },
  };

  function current(): StatsCollector {
    const c = new StatsCollector();
    // score: 25 rows in [0,1), 75 in [1,2] → a = (0.25, 0.75) against e = (0.5, 0.5)
    c.observePredictions([score([...Array<number>(25).fill(0.5), ...Array<number>(75).fill(1.5)])]);
    c.observeFeatures(
      batchOf(
        {
          x: Array<number>(20).fill(5), // all in the first bin → a = (1, 0)
          y: [...Array<number>(10).fill(-3), ...Array<number>(10).fill(99)], // 10 below, 10 above: outer bins
          same: Array.from({ length: 20 }, (_, i) => [0.1, 1.2, 1.7, 2.9][i % 4]!), // 5, 10, 5 ∝ 1, 2, 1
          empty: Array.from({ length: 20 }, (_, i) => i),
          fresh: Array.from({ length: 20 }, (_, i) => i),
        },
        { x: new Float64(), y: new Float64(), same: new Float64(), empty: new Float64(), fresh: new Float64() },
      ),
      ['x', 'y', 'same', 'empty', 'fresh'],
    );
    return c;
  }

  it('computes the PSI of every column the baseline shares, against the baseline edges', () => {
    const report = current().drift(baseline, 'run-base', 0.2);
    expect(report.baseline_run_id).toBe('run-base');
    expect(report.max_psi).toBe(0.2);
    // Only columns with a baseline histogram: not 'gone' (absent now), 'empty' (no baseline bins) or 'fresh'.
    expect(Object.keys(report.psi.predictions)).toEqual(['score']);
    expect(Object.keys(report.psi.features).sort()).toEqual(['same', 'x', 'y']);
    expect(report.psi.predictions.score).toBeCloseTo(0.25 * Math.log(3), 12);
    expect(report.psi.features.same).toBe(0);
    // x: e = (0.5, 0.5), a = (1, 0 → 1e-4)
    expect(report.psi.features.x).toBeCloseTo(0.5 * Math.log(2) + (1e-4 - 0.5) * Math.log(1e-4 / 0.5), 12);
    // y: -3 lands in the open first bin, 99 in the open last one: 10 and 10 → a = e → 0.
    expect(report.psi.features.y).toBe(0);
  });

  it('flags the columns over max_psi, worst first, predictions and features together', () => {
    const c = current();
    expect(c.drift(baseline, 'b', 0.2).drifted).toEqual(['x', 'score']);
    expect(c.drift(baseline, 'b', 0.3).drifted).toEqual(['x']);
    expect(c.drift(baseline, 'b', 10).drifted).toEqual([]);
    // Strictly over: a column exactly at max_psi is not flagged.
    const at = c.drift(baseline, 'b', 0).psi.predictions.score!;
    expect(c.drift(baseline, 'b', at).drifted).toEqual(['x']);
    // Zero PSI is never over a zero threshold.
    expect(c.drift(baseline, 'b', 0).drifted).toEqual(['x', 'score']);
  });

  it('orders by PSI across kinds', () => {
    const c = new StatsCollector();
    c.observePredictions([score([...Array<number>(10).fill(0.5), ...Array<number>(90).fill(1.5)], 'score')]);
    c.observeFeatures(
      batchOf({ y: [...Array<number>(25).fill(1), ...Array<number>(75).fill(15)] }, { y: new Float64() }),
      ['y'],
    );
    const r = c.drift(baseline, 'b', 0.1);
    // score: e=(.5,.5), a=(.1,.9): 0.4·(ln 5 + ln 1.8) = 0.4·ln 9 ≈ 0.879; y: 0.25·ln 3 ≈ 0.275
    expect(r.psi.predictions.score).toBeCloseTo(0.4 * Math.log(9), 12);
    expect(r.psi.features.y).toBeCloseTo(0.25 * Math.log(3), 12);
    expect(r.drifted).toEqual(['score', 'y']);
  });

  it('compares labels class by class where both runs counted classes, else over the bins', () => {
    const label = (ones: number) => ({
      column: 'label',
      sqlType: 'bigint' as const,
      values: BigInt64Array.from({ length: 100 }, (_, i) => (i < ones ? 1n : 0n)),
    });
    const base = new StatsCollector();
    base.observePredictions([label(50)]);
    const c = new StatsCollector();
    c.observePredictions([label(25)]);
    // e = (0.5, 0.5), a = (0.75, 0.25) over classes 0 and 1.
    expect(c.drift(base.result(), 'b', 0.2).psi.predictions.label).toBeCloseTo(0.25 * Math.log(3), 12);
    // A baseline recorded before classes were counted: its bins are used.
    const old = base.result();
    delete old.predictions.label!.categories;
    const v = c.drift(old, 'b', 0.2).psi.predictions.label!;
    expect(v).toBeCloseTo(0.25 * Math.log(3), 12);
  });

  it('compares with a constant baseline by what falls outside its one bin; a baseline with no values gives no PSI', () => {
    const constant: RunStats = {
      predictions: {},
      features: {
        x: { null_rate: 0, mean: 5, std: 0, histogram: { edges: [5, 5.5], counts: [20] } },
        y: { null_rate: 1, mean: null, std: null, histogram: { edges: [0, 10, 20], counts: [0, 0] } },
      },
    };
    const c = new StatsCollector();
    c.observeFeatures(
      batchOf(
        { x: [...Array<number>(10).fill(5), ...Array<number>(10).fill(9)], y: Array<number>(20).fill(1) },
        { x: new Float64(), y: new Float64() },
      ),
      ['x', 'y'],
    );
    const r = c.drift(constant, 'b', 0.2);
    // e = (0, 1, 0) → (1e-4, 1, 1e-4); a = (0, 0.5, 0.5): half of the values left the constant.
    const e = [1e-4, 1, 1e-4];
    const a = [1e-4, 0.5, 0.5];
    expect(r.psi.features.x).toBeCloseTo(
      e.reduce((sum, ei, i) => sum + (a[i]! - ei) * Math.log(a[i]! / ei), 0),
      9,
    );
    expect(r.drifted).toEqual(['x']);
    expect(Object.keys(r.psi.features)).toEqual(['x']);
  });

  it('finds no drift against its own stats', () => {
    const c = current();
    const own = c.result();
    const r = c.drift(own, 'self', 0.01);
    expect(r.drifted).toEqual([]);
    for (const v of [...Object.values(r.psi.predictions), ...Object.values(r.psi.features)]) expect(v).toBe(0);
    expect(Object.keys(r.psi.features).sort()).toEqual(['empty', 'fresh', 'same', 'x', 'y']);
  });
});
