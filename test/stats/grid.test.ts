import { describe, expect, it } from 'vitest';
import { commonEdges, gridEdges, gridWidth, MAX_BINS, mergeHistograms, rebin } from '../../src/stats/grid.js';
import { StatsCollector } from '../../src/stats/collector.js';
import type { Histogram } from '../../src/stats/types.js';

const isPow2 = (w: number) => Number.isInteger(Math.log2(w));
const histogramOf = (values: readonly number[]): Histogram => {
  const c = new StatsCollector();
  c.observePredictions([{ column: 'v', sqlType: 'double precision', values: Float64Array.from(values) }]);
  return c.result().predictions.v!.histogram;
};

describe('gridWidth and gridEdges', () => {
  it('cover [lo, hi] with half to all of MAX_BINS aligned bins of a power-of-two width', () => {
    const ranges: [number, number][] = [
      [0, 1],
      [0, 100],
      [0.02, 0.98],
      [-3.7, 12.1],
      [1e9 + 1, 1e9 + 3],
      [-1e-6, 1e-6],
      [123456, 987654321],
    ];
    for (const [lo, hi] of ranges) {
      const w = gridWidth(lo, hi);
      const edges = gridEdges(lo, hi, w);
      expect(isPow2(w), `${lo}..${hi}`).toBe(true);
      expect(edges[0]).toBeLessThanOrEqual(lo);
      expect(edges.at(-1)).toBeGreaterThanOrEqual(hi);
      expect(edges.length - 1).toBeLessThanOrEqual(MAX_BINS);
      expect(edges.length - 1).toBeGreaterThanOrEqual(MAX_BINS / 2);
      for (const e of edges) expect(Number.isInteger(e / w)).toBe(true);
    }
    expect(gridEdges(0, 1)).toEqual(Array.from({ length: 9 }, (_, i) => i / 8));
  });

  it('gives a constant column one bin that holds it', () => {
    for (const v of [0, 5, -2.5, 1e12]) {
      const edges = gridEdges(v, v);
      expect(edges).toHaveLength(2);
      expect(edges[0]).toBeLessThanOrEqual(v);
      expect(edges[1]).toBeGreaterThan(v);
    }
  });

  it('never goes narrower than asked', () => {
    expect(gridWidth(0, 1, 0.25)).toBe(0.25);
    expect(gridWidth(0, 1, 0.2)).toBe(0.25);
    expect(gridEdges(0, 1, gridWidth(0, 1, 0.25))).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });
});

describe('rebin', () => {
  it('moves each bin whole when it nests in a new bin: grid histograms re-bin exactly', () => {
    const h = { edges: [0, 0.25, 0.5, 0.75, 1], counts: [1, 2, 3, 4] };
    expect(rebin(h, [0, 0.5, 1])).toEqual([3, 7]);
    expect(rebin(h, [-1, 0, 1, 2])).toEqual([0, 10, 0]);
  });

  it('spreads a bin that straddles new edges evenly over it (older ten-bin histograms)', () => {
    // [0,1): 10 → 5 and 5; [1,2]: 20 → 10 and 10.
    expect(rebin({ edges: [0, 1, 2], counts: [10, 20] }, [0, 0.5, 1.5, 2])).toEqual([5, 15, 10]);
  });

  it('puts counts outside the new edges in the open outer bins, and a bin of no width where its value falls', () => {
    expect(rebin({ edges: [-5, -4, 10, 11], counts: [1, 2, 3] }, [0, 1, 2])).toEqual([
      1 + 2 * (5 / 14),
      2 * (9 / 14) + 3,
    ]);
    expect(rebin({ edges: [3, 3, 3], counts: [0, 7] }, [0, 2, 4, 6])).toEqual([0, 7, 0]);
    expect(rebin({ edges: [], counts: [] }, [0, 1, 2])).toEqual([0, 0]);
  });
});

describe('commonEdges and mergeHistograms', () => {
  const a = Array.from({ length: 1000 }, (_, i) => i / 1000); // [0, 1)
  const b = Array.from({ length: 3000 }, (_, i) => 0.5 + i / 3000); // [0.5, 1.5)

  it('choose a grid in which every bin of every input nests', () => {
    const [ha, hb] = [histogramOf(a), histogramOf(b)];
    const edges = commonEdges([ha, hb]);
    const w = edges[1]! - edges[0]!;
    expect(edges).toEqual(Array.from({ length: 13 }, (_, i) => i / 8));
    for (const h of [ha, hb]) {
      expect(w / (h.edges[1]! - h.edges[0]!)).toBeGreaterThanOrEqual(1);
      // Each input bin [e_i, e_i+1) lies inside one common bin.
      for (let i = 0; i + 1 < h.edges.length; i++)
        expect(Math.ceil(h.edges[i + 1]! / w) - Math.floor(h.edges[i]! / w)).toBe(1);
    }
    expect(commonEdges([{ edges: [], counts: [] }])).toEqual([]);
  });

  it('sum counts exactly: the merge equals the histogram of the union on the same grid', () => {
    const merged = mergeHistograms([histogramOf(a), histogramOf(b)]);
    const union = histogramOf([...a, ...b]);
    expect(merged.counts.reduce((x, y) => x + y, 0)).toBe(4000);
    expect(merged.counts.every(Number.isInteger)).toBe(true);
    expect(rebin(union, merged.edges)).toEqual(merged.counts);
    // Bins of 1/8: [0, 0.5) holds a only, [0.5, 1) a and b, [1, 1.5) b only (3000 rows over 8 bins).
    expect(merged.counts).toEqual([125, 125, 125, 125, 500, 500, 500, 500, 375, 375, 375, 375]);
  });

  it('merges histograms of older runs onto one grid too, approximately', () => {
    const old = { edges: Array.from({ length: 11 }, (_, i) => 0.05 + i * 0.09), counts: Array<number>(10).fill(10) };
    const merged = mergeHistograms([old, histogramOf(a)]);
    expect(merged.counts.reduce((x, y) => x + y, 0)).toBeCloseTo(1100, 9);
    expect(merged.edges[0]).toBe(0);
    expect(merged.edges.at(-1)).toBe(1);
  });
});
