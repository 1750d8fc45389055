import type { Task } from './metrics.js';

// The metrics the bootstrap resamples, with each row counted as often as a resample drew it. A
// resample drawn with replacement is the same rows with whole-number weights, so one sort of the
// rows serves every resample and each costs one pass: the metrics of computeMetrics (checked
// against sklearn) in O(n) instead of O(n log n) per draw. With every weight 1 they are
// computeMetrics' own values (test/evaluate/compare.test.ts checks it).

/** Indices of `rows` by score, highest first; ties keep any order (they form one threshold). */
export function byScoreDesc(rows: readonly number[], s: ArrayLike<number>): Int32Array {
  return Int32Array.from(rows).sort((a, b) => s[b]! - s[a]!);
}

const EPS = Number.EPSILON;

/**
 * roc_auc, pr_auc, log_loss, brier, accuracy, f1 (binary) or rmse, mae, r2 (regression) of the
 * rows in `order` weighted by `w`; a metric that is undefined for the draw (one class) is null.
 */
export function weightedMetrics(
  order: Int32Array,
  s: ArrayLike<number>,
  y: ArrayLike<number>,
  w: ArrayLike<number>,
  task: Task,
  threshold: number,
): Record<string, number | null> {
  let total = 0;
  if (task === 'regression') {
    let sy = 0;
    for (const i of order) {
      total += w[i]!;
      sy += w[i]! * y[i]!;
    }
    const mean = sy / total;
    let se = 0;
    let ae = 0;
    let tot = 0;
    for (const i of order) {
      const d = y[i]! - s[i]!;
      se += w[i]! * d * d;
      ae += w[i]! * Math.abs(d);
      tot += w[i]! * (y[i]! - mean) ** 2;
    }
    return { rmse: Math.sqrt(se / total), mae: ae / total, r2: tot > 0 ? 1 - se / tot : null };
  }
  let P = 0;
  let loss = 0;
  let brier = 0;
  let tpAt = 0;
  let fpAt = 0;
  let tnAt = 0;
  for (const i of order) {
    const wi = w[i]!;
    if (wi === 0) continue;
    total += wi;
    P += wi * y[i]!;
    const p = Math.min(Math.max(s[i]!, EPS), 1 - EPS);
    const sum = 1 - p + p;
    loss -= wi * (y[i] === 1 ? Math.log(p / sum) : Math.log((1 - p) / sum));
    brier += wi * (s[i]! - y[i]!) ** 2;
    const positive = s[i]! >= threshold;
    if (positive && y[i] === 1) tpAt += wi;
    else if (positive) fpAt += wi;
    else if (y[i] === 0) tnAt += wi;
  }
  const N = total - P;
  const fnAt = P - tpAt;
  let roc: number | null = null;
  let ap: number | null = null;
  if (P > 0 && N > 0) {
    roc = 0;
    ap = 0;
    let tp = 0;
    let fp = 0;
    let prevTpr = 0;
    let prevFpr = 0;
    for (let k = 0; k < order.length; k++) {
      const i = order[k]!;
      tp += w[i]! * y[i]!;
      fp += w[i]! * (1 - y[i]!);
      if (k < order.length - 1 && s[order[k + 1]!] === s[i]) continue;
      const tpr = tp / P;
      const fpr = fp / N;
      if (tp + fp === 0) continue;
      roc += ((fpr - prevFpr) * (tpr + prevTpr)) / 2;
      ap += (tpr - prevTpr) * (tp / (tp + fp));
      prevTpr = tpr;
      prevFpr = fpr;
    }
  }
  return {
    roc_auc: roc,
    pr_auc: ap,
    log_loss: loss / total,
    brier: brier / total,
    accuracy: (tpAt + tnAt) / total,
    f1: tpAt + fpAt + fnAt > 0 ? (2 * tpAt) / (2 * tpAt + fpAt + fnAt) : null,
  };
}
