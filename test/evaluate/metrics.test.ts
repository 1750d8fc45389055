import { describe, expect, it } from 'vitest';
import { rng } from '../../src/random.js';
import { computeMetrics, inferTask, type Metrics } from '../../src/evaluate/metrics.js';
import { sklearnMetrics, sklearnVersion, type OracleCase } from '../support/sklearn.js';

interface Case extends OracleCase {
  name: string;
}

function binaryCase(name: string, n: number, seed: number, opts: { round?: number; rate?: number } = {}): Case {
  const r = rng(seed);
  const labels: number[] = [];
  const scores: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = r() < (opts.rate ?? 0.3) ? 1 : 0;
    // A score that leans toward the label, so AUC sits well away from 0.5.
    let s = Math.min(1, Math.max(0, 0.35 * y + 0.65 * r()));
    if (opts.round) s = Math.round(s * opts.round) / opts.round;
    labels.push(y);
    scores.push(s);
  }
  return { name, scores, labels, threshold: 0.5, task: 'binary' };
}

const cases: Case[] = [
  binaryCase('continuous scores', 5000, 1),
  // Scores on a grid of 11 values: thousands of ties, the case trapezoids over distinct thresholds exist for.
  binaryCase('heavily tied scores', 3000, 2, { round: 10 }),
  { ...binaryCase('threshold 0.3, rare positives', 2000, 3, { rate: 0.05 }), threshold: 0.3 },
  {
    name: 'scores at 0 and 1 (log loss clipping) and on bin edges',
    scores: [0, 1, 1, 0, 0.1, 0.2, 0.3, 0.30000000000000004, 0.7, 0.5, 0.5, 0.9, 1e-17, 1 - 1e-17],
    labels: [0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1],
    threshold: 0.5,
    task: 'binary',
  },
  {
    name: 'every label 0',
    scores: [0.1, 0.4, 0.6, 0.9],
    labels: [0, 0, 0, 0],
    threshold: 0.5,
    task: 'binary',
  },
  {
    name: 'every label 1',
    scores: [0.1, 0.4, 0.6, 0.9],
    labels: [1, 1, 1, 1],
    threshold: 0.5,
    task: 'binary',
  },
  (() => {
    const r = rng(4);
    const labels = Array.from({ length: 4000 }, () => 100 * r());
    return {
      name: 'regression',
      labels,
      scores: labels.map((y) => y + 20 * (r() - 0.5)),
      threshold: 0.5,
      task: 'regression' as const,
    };
  })(),
];

function ours(c: Case): Metrics {
  return computeMetrics(c.scores, c.labels, { task: c.task, threshold: c.threshold, predictions: c.scores.length });
}

describe('metrics against scikit-learn', () => {
  it.skipIf(!sklearnVersion)('equal sklearn 1.2 to 1e-9 on every case', () => {
    const expected = sklearnMetrics(cases);
    let maxDiff = 0;
    cases.forEach((c, k) => {
      const got = ours(c) as unknown as Record<string, unknown>;
      const want = expected[k]!;
      for (const [metric, value] of Object.entries(want)) {
        if (metric === 'calibration') {
          const bins = (got.calibration as Metrics['calibration'])!.filter((b) => b.count > 0);
          const pairs = value as [number, number][];
          expect(bins.length, `${c.name}: calibration bins`).toBe(pairs.length);
          bins.forEach((b, i) => {
            maxDiff = Math.max(
              maxDiff,
              Math.abs(b.positive_rate! - pairs[i]![0]),
              Math.abs(b.mean_score! - pairs[i]![1]),
            );
            expect(b.positive_rate, `${c.name}: calibration bin ${i}`).toBeCloseTo(pairs[i]![0], 9);
            expect(b.mean_score, `${c.name}: calibration bin ${i}`).toBeCloseTo(pairs[i]![1], 9);
          });
          continue;
        }
        // sklearn's zero_division=0 stands for what we report as undefined (null, with a reason).
        if (got[metric] === null) {
          expect(value, `${c.name}: ${metric} is null only where sklearn falls back to 0`).toBe(0);
          continue;
        }
        const diff = Math.abs((got[metric] as number) - (value as number));
        maxDiff = Math.max(maxDiff, diff);
        expect(diff, `${c.name}: ${metric} = ${String(got[metric])}, sklearn ${String(value)}`).toBeLessThan(1e-9);
      }
    });
    console.log(`metrics vs sklearn ${sklearnVersion}: max abs difference ${maxDiff.toExponential(2)}`);
  });
});

describe('metrics by hand', () => {
  it('ties count half: one positive tied with one negative is AUC 0.5', () => {
    const m = computeMetrics([0.5, 0.5], [1, 0], { task: 'binary', threshold: 0.5, predictions: 2 });
    expect(m.roc_auc).toBe(0.5);
    // One threshold, precision 1/2 at recall 1.
    expect(m.pr_auc).toBe(0.5);
  });

  it('a partition where every label is one class has no AUC, and says why', () => {
    const m = computeMetrics([0.2, 0.8, 0.6], [1, 1, 1], { task: 'binary', threshold: 0.5, predictions: 3 });
    expect(m.roc_auc).toBeNull();
    expect(m.pr_auc).toBeNull();
    expect(m.undefined_reasons.roc_auc).toBe('every label is 1: a ranking metric needs both classes');
    expect(m.log_loss).toBeCloseTo(-(Math.log(0.2) + Math.log(0.8) + Math.log(0.6)) / 3, 12);
    expect(m.accuracy).toBeCloseTo(2 / 3, 12);
  });

  it('a score exactly at the threshold is a positive prediction', () => {
    const m = computeMetrics([0.5, 0.49], [1, 0], { task: 'binary', threshold: 0.5, predictions: 2 });
    expect([m.precision, m.recall, m.accuracy]).toEqual([1, 1, 1]);
  });

  it('coverage is the labelled share of the predictions', () => {
    const m = computeMetrics([0.1, 0.9], [0, 1], { task: 'binary', threshold: 0.5, predictions: 8 });
    expect([m.count, m.predictions, m.coverage]).toEqual([2, 8, 0.25]);
  });

  it('regression: RMSE, MAE, R² by hand; constant labels leave R² undefined', () => {
    const m = computeMetrics([2, 4, 5], [1, 4, 7], { task: 'regression', threshold: 0.5, predictions: 3 });
    expect(m.rmse).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(m.mae).toBeCloseTo(1, 12);
    expect(m.r2).toBeCloseTo(1 - 5 / 18, 12);
    const flat = computeMetrics([2, 4], [3, 3], { task: 'regression', threshold: 0.5, predictions: 2 });
    expect(flat.r2).toBeNull();
    expect(flat.undefined_reasons.r2).toMatch(/same value/);
  });

  it('infers binary for 0/1 labels with scores in [0, 1], regression otherwise', () => {
    expect(inferTask([0.2, 1], [0, 1])).toBe('binary');
    expect(inferTask([0.2, 1.5], [0, 1])).toBe('regression');
    expect(inferTask([0.2, 0.4], [0, 2])).toBe('regression');
  });
});
