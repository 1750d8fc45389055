import { binCounts, psi } from '../stats/psi.js';
import { computeMetrics, type Metrics, type Task } from './metrics.js';
import { byScoreDesc, weightedMetrics } from './weighted-metrics.js';
import { rng } from '../random.js';

// A challenger against the champion on the same rows: how far apart their scores are (agreement,
// PSI) and how much better or worse it measures, with a paired bootstrap interval so a delta of
// 0.004 on 900 labels is not read as a win.

/** The bootstrap: resamples drawn, their seed, and the share of the interval. */
export const BOOTSTRAP = { replicates: 200, seed: 16, confidence: 0.95, maxRows: 1_000_000 } as const;

export interface Delta {
  /** challenger − champion on the rows both scored and that have a label. */
  readonly delta: number;
  readonly ci_low: number | null;
  readonly ci_high: number | null;
}

export interface Comparison {
  /** Rows both models scored (joined by key). */
  readonly rows: number;
  /** Of those, rows with a label: what the metrics and deltas are computed over. */
  readonly labelled: number;
  /** Share of rows on the same side of the threshold in both; null for a regression. */
  readonly agreement: number | null;
  /** PSI of the challenger's score distribution against the champion's. */
  readonly psi: number | null;
  /** Per metric; a metric undefined for either model (one class) is absent. */
  readonly deltas: Readonly<Record<string, Delta>>;
  readonly bootstrap: {
    readonly replicates: number;
    readonly used: number;
    readonly seed: number;
    readonly confidence: number;
  };
}

const BINARY = ['roc_auc', 'pr_auc', 'log_loss', 'brier', 'accuracy', 'f1'] as const;
const REGRESSION = ['rmse', 'mae', 'r2'] as const;

const get = (m: Metrics, k: string) => (m as unknown as Record<string, number | null | undefined>)[k] ?? null;

/** Linear-interpolated quantile of sorted values (numpy's default). */
function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Compares paired scores: `champion[i]` and `challenger[i]` belong to the same key; `labels[i]` is
 * its label or NaN where none has arrived.
 */
export function compareScores(
  champion: Float64Array,
  challenger: Float64Array,
  labels: Float64Array,
  options: { task: Task; threshold: number },
): Comparison {
  const n = champion.length;
  let agree = 0;
  const idx: number[] = [];
  for (let i = 0; i < n; i++) {
    if (champion[i]! >= options.threshold === challenger[i]! >= options.threshold) agree++;
    if (!Number.isNaN(labels[i]!)) idx.push(i);
  }
  const sorted = options.task === 'binary' ? [] : [...champion].sort((a, b) => a - b);
  const edges =
    options.task === 'binary'
      ? Array.from({ length: 11 }, (_, k) => k * 0.1)
      : [...new Set(Array.from({ length: 11 }, (_, k) => quantile(sorted, k / 10)))];
  const psiValue = n > 0 ? psi(binCounts([...champion], edges), binCounts([...challenger], edges)) : null;

  // The point estimates: computeMetrics, the definitions checked against sklearn.
  const y = idx.map((i) => labels[i]!);
  const opts = { task: options.task, threshold: options.threshold, predictions: idx.length };
  const a = computeMetrics(
    idx.map((i) => champion[i]!),
    y,
    opts,
  );
  const b = computeMetrics(
    idx.map((i) => challenger[i]!),
    y,
    opts,
  );
  const keys = options.task === 'binary' ? BINARY : REGRESSION;
  const point: Record<string, number> = {};
  for (const k of keys) {
    const va = get(a, k);
    const vb = get(b, k);
    if (va !== null && vb !== null) point[k] = vb - va;
  }
  // The interval: resamples of the labelled rows with replacement, the same draw for both models,
  // each a vector of counts over the rows (at most maxRows of them: a seeded subsample beyond).
  const draw = rng(BOOTSTRAP.seed);
  const base = idx.length > BOOTSTRAP.maxRows ? idx.filter(() => draw() < BOOTSTRAP.maxRows / idx.length) : idx;
  const orderA = byScoreDesc(base, champion);
  const orderB = byScoreDesc(base, challenger);
  const weights = new Float64Array(n);
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(point).map((k) => [k, []]));
  let used = 0;
  for (let r = 0; r < BOOTSTRAP.replicates && base.length > 1; r++) {
    weights.fill(0);
    for (let k = 0; k < base.length; k++) weights[base[Math.floor(draw() * base.length)]!]!++;
    const ra = weightedMetrics(orderA, champion, labels, weights, options.task, options.threshold);
    const rb = weightedMetrics(orderB, challenger, labels, weights, options.task, options.threshold);
    let any = false;
    for (const k of Object.keys(point)) {
      const va = ra[k] ?? null;
      const vb = rb[k] ?? null;
      if (va === null || vb === null) continue;
      samples[k]!.push(vb - va);
      any = true;
    }
    if (any) used++;
  }
  const tail = (1 - BOOTSTRAP.confidence) / 2;
  const deltas: Record<string, Delta> = {};
  for (const [k, d] of Object.entries(point)) {
    const s = samples[k]!.sort((x, y) => x - y);
    deltas[k] = {
      delta: d,
      ci_low: s.length ? quantile(s, tail) : null,
      ci_high: s.length ? quantile(s, 1 - tail) : null,
    };
  }
  return {
    rows: n,
    labelled: idx.length,
    agreement: options.task === 'binary' && n > 0 ? agree / n : null,
    psi: psiValue,
    deltas,
    bootstrap: {
      replicates: BOOTSTRAP.replicates,
      used,
      seed: BOOTSTRAP.seed,
      confidence: BOOTSTRAP.confidence,
    },
  };
}
