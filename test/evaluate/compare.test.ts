import { describe, expect, it } from 'vitest';
import { rng } from '../../src/random.js';
import { compareScores } from '../../src/evaluate/compare.js';
import { computeMetrics, type Task } from '../../src/evaluate/metrics.js';
import { byScoreDesc, weightedMetrics } from '../../src/evaluate/weighted-metrics.js';

function data(n: number, seed: number, task: Task) {
  const r = rng(seed);
  const y = Float64Array.from({ length: n }, () => (task === 'binary' ? (r() < 0.3 ? 1 : 0) : 10 * r()));
  // Scores on a grid of 21 values, so ties are everywhere.
  const s = Float64Array.from(y, (v) =>
    task === 'binary' ? Math.round(Math.min(1, 0.3 * v + 0.7 * r()) * 20) / 20 : v + r() - 0.5,
  );
  return { s, y };
}

const KEYS = {
  binary: ['roc_auc', 'pr_auc', 'log_loss', 'brier', 'accuracy', 'f1'],
  regression: ['rmse', 'mae', 'r2'],
} as const;

describe('the bootstrap’s weighted metrics', () => {
  it.each(['binary', 'regression'] as const)(
    '%s: with every weight 1 they are computeMetrics; with counts, the metrics of the rows repeated',
    (task) => {
      const { s, y } = data(3000, 7, task);
      const rows = Array.from({ length: s.length }, (_, i) => i);
      const ones = new Float64Array(s.length).fill(1);
      const got = weightedMetrics(byScoreDesc(rows, s), s, y, ones, task, 0.5);
      const want = computeMetrics(s, y, { task, threshold: 0.5, predictions: s.length }) as unknown as Record<
        string,
        number
      >;
      for (const k of KEYS[task]) expect(Math.abs(got[k]! - want[k]!), k).toBeLessThan(1e-12);
      // A resample: each row counted as often as drawn, against the drawn rows written out.
      const r = rng(3);
      const w = new Float64Array(s.length);
      const drawn: number[] = [];
      for (let k = 0; k < s.length; k++) {
        const i = Math.floor(r() * s.length);
        w[i]!++;
        drawn.push(i);
      }
      const weighted = weightedMetrics(byScoreDesc(rows, s), s, y, w, task, 0.5);
      const expanded = computeMetrics(
        drawn.map((i) => s[i]!),
        drawn.map((i) => y[i]!),
        { task, threshold: 0.5, predictions: drawn.length },
      ) as unknown as Record<string, number>;
      for (const k of KEYS[task]) expect(Math.abs(weighted[k]! - expanded[k]!), k).toBeLessThan(1e-9);
    },
  );
});

describe('compareScores', () => {
  it('gives the same interval for the same data, bracketing the delta; a better model’s AUC interval is above 0', () => {
    const { s, y } = data(4000, 11, 'binary');
    const r = rng(5);
    // A challenger that sees the label more clearly.
    const better = Float64Array.from(y, (v) => Math.min(1, 0.5 * v + 0.5 * r()));
    const labels = Float64Array.from(y, (v, i) => (i % 4 === 0 ? NaN : v));
    const a = compareScores(s, better, labels, { task: 'binary', threshold: 0.5 });
    const b = compareScores(s, better, labels, { task: 'binary', threshold: 0.5 });
    expect(b).toEqual(a);
    expect([a.rows, a.labelled]).toEqual([4000, 3000]);
    const auc = a.deltas.roc_auc!;
    expect(auc.ci_low!).toBeLessThan(auc.delta);
    expect(auc.ci_high!).toBeGreaterThan(auc.delta);
    expect(auc.ci_low!).toBeGreaterThan(0);
    expect(a.bootstrap).toEqual({ replicates: 200, used: 200, seed: 16, confidence: 0.95 });
    // The same model against itself: agreement 1, PSI 0, every delta and interval 0.
    const self = compareScores(s, s, labels, { task: 'binary', threshold: 0.5 });
    expect([self.agreement, self.psi]).toEqual([1, 0]);
    for (const d of Object.values(self.deltas)) expect([d.delta, d.ci_low, d.ci_high]).toEqual([0, 0, 0]);
  });
});
