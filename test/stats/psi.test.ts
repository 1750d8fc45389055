import { describe, expect, it } from 'vitest';
import { binCounts, categoryPsi, psi } from '../../src/stats/psi.js';

describe('binCounts', () => {
  it('puts each value in the bin [edge_k, edge_k+1), the last bin closed', () => {
    // Bins: [0,1) [1,2) [2,3]
    expect(binCounts([0, 0.5, 0.999, 1, 1.5, 2, 2.5, 3], [0, 1, 2, 3])).toEqual([3, 2, 3]);
  });

  it('opens the outer bins: values below the first edge or above the last still land', () => {
    expect(binCounts([-100, -0.001, 0, 3.001, 1e9], [0, 1, 2, 3])).toEqual([3, 0, 2]);
    // Every value is counted exactly once.
    const values = Array.from({ length: 200 }, (_, i) => i / 10 - 5);
    expect(binCounts(values, [0, 1, 2, 3, 4]).reduce((a, b) => a + b, 0)).toBe(values.length);
  });

  it('matches a direct count per bin', () => {
    const edges = [0, 2.5, 5, 7.5, 10];
    const values = Array.from({ length: 101 }, (_, i) => i / 10); // 0, 0.1, ..., 10
    // [0,2.5): 0..2.4 → 25 values; [2.5,5): 25; [5,7.5): 25; [7.5,10]: 7.5..10 → 26.
    expect(binCounts(values, edges)).toEqual([25, 25, 25, 26]);
    const direct = edges
      .slice(0, -1)
      .map(
        (lo, k) => values.filter((v) => (k === 0 || v >= lo) && (k === edges.length - 2 || v < edges[k + 1]!)).length,
      );
    expect(binCounts(values, edges)).toEqual(direct);
  });

  it('uses one bin when there are fewer than two edges', () => {
    expect(binCounts([1, 2, 3], [])).toEqual([3]);
    expect(binCounts([1, 2, 3], [5])).toEqual([3]);
    expect(binCounts([], [0, 1, 2])).toEqual([0, 0]);
  });
});

describe('psi', () => {
  it('is 0 for identical distributions, and for the same proportions at another size', () => {
    expect(psi([10, 20, 30, 40], [10, 20, 30, 40])).toBe(0);
    expect(psi([10, 20, 30, 40], [30, 60, 90, 120])).toBe(0);
  });

  it('gives the hand-computed value for a known shift', () => {
    // e = (0.5, 0.5), a = (0.25, 0.75):
    // (0.25−0.5)·ln(0.5) + (0.75−0.5)·ln(1.5) = 0.25·(ln 2 + ln 1.5) = 0.25·ln 3
    expect(psi([50, 50], [25, 75])).toBeCloseTo(0.25 * Math.log(3), 12);
    expect(psi([50, 50], [25, 75])).toBeCloseTo(0.274653072, 9);
    // e = (0.2, 0.3, 0.5), a = (0.3, 0.3, 0.4), written out term by term.
    const byHand = (0.3 - 0.2) * Math.log(0.3 / 0.2) + 0 + (0.4 - 0.5) * Math.log(0.4 / 0.5);
    expect(psi([20, 30, 50], [3, 3, 4])).toBeCloseTo(byHand, 12);
    expect(byHand).toBeCloseTo(0.06285, 4);
  });

  it('is symmetric and grows with the shift', () => {
    expect(psi([25, 75], [50, 50])).toBeCloseTo(psi([50, 50], [25, 75]), 15);
    const shifts = [50, 40, 30, 20, 10].map((x) => psi([50, 50], [x, 100 - x]));
    expect(shifts[0]).toBe(0);
    for (let i = 1; i < shifts.length; i++) expect(shifts[i]!).toBeGreaterThan(shifts[i - 1]!);
  });

  it('smooths empty bins to 1e-4 so the index stays finite', () => {
    // e = (1, 0) → (1, 1e-4); a = (0.5, 0.5)
    const expected = (0.5 - 1) * Math.log(0.5 / 1) + (0.5 - 1e-4) * Math.log(0.5 / 1e-4);
    const v = psi([100, 0], [50, 50]);
    expect(Number.isFinite(v)).toBe(true);
    expect(v).toBeCloseTo(expected, 12);
    expect(v).toBeCloseTo(0.5 * Math.LN2 + 0.4999 * Math.log(5000), 12); // ≈ 0.3466 + 4.2577
    expect(v).toBeCloseTo(4.6043, 4);
    // Both empty in the same bin: that bin adds nothing.
    expect(psi([50, 0, 50], [50, 0, 50])).toBe(0);
  });

  it('treats bins missing from `actual` as empty', () => {
    expect(psi([50, 50], [100])).toBeCloseTo(psi([50, 50], [100, 0]), 15);
  });

  it('is 0 when either side has no rows', () => {
    expect(psi([0, 0], [5, 5])).toBe(0);
    expect(psi([5, 5], [0, 0])).toBe(0);
    expect(psi([], [])).toBe(0);
  });

  it('agrees with binCounts + a direct formula on a shifted sample', () => {
    const edges = [0, 1, 2, 3, 4, 5];
    const base = Array.from({ length: 500 }, (_, i) => (i % 50) / 10); // uniform on [0, 5)
    const moved = base.map((v) => v * 0.5 + 2); // squeezed into [2, 4.5)
    const e = binCounts(base, edges);
    const a = binCounts(moved, edges);
    expect(e).toEqual([100, 100, 100, 100, 100]);
    expect(a).toEqual([0, 0, 200, 200, 100]);
    const p = (x: number[]) => x.map((c) => Math.max(c / 500, 1e-4));
    const [pe, pa] = [p(e), p(a)];
    const direct = pe.reduce((s, ei, i) => s + (pa[i]! - ei) * Math.log(pa[i]! / ei), 0);
    expect(psi(e, a)).toBeCloseTo(direct, 12);
    // 2·(1e-4 − 0.2)·ln(1e-4/0.2) + 2·(0.4 − 0.2)·ln 2 + 0
    expect(psi(e, a)).toBeCloseTo(2 * (1e-4 - 0.2) * Math.log(1e-4 / 0.2) + 2 * 0.2 * Math.log(2), 12);
  });
});

describe('categoryPsi', () => {
  it('compares class shares, a class missing on one side counting as empty there', () => {
    expect(categoryPsi({ 0: 50, 1: 50 }, { 1: 75, 0: 25 })).toBeCloseTo(0.25 * Math.log(3), 12);
    expect(categoryPsi({ a: 10, b: 10 }, { a: 10, b: 10 })).toBe(0);
    expect(categoryPsi({ a: 100 }, { a: 50, b: 50 })).toBeCloseTo(psi([100, 0], [50, 50]), 12);
  });
});
