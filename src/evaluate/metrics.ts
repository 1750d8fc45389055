// Model-quality metrics over joined (score, label) pairs. Each one is defined as scikit-learn 1.2
// defines it, so a number here can be checked against sklearn.metrics on the same data; where
// sklearn would warn and return a placeholder (AUC of one class), the metric is null with a reason.

/** How a prediction column is judged: a probability (or score) of a binary outcome, or a regression. */
export type Task = 'binary' | 'regression';

/** One of the ten equal-width score bins of [0, 1] (sklearn's calibration_curve, strategy "uniform"). */
export interface CalibrationBin {
  readonly lower: number;
  readonly upper: number;
  readonly count: number;
  /** Mean score in the bin; null when the bin is empty. */
  readonly mean_score: number | null;
  /** Share of positive labels in the bin; null when the bin is empty. */
  readonly positive_rate: number | null;
}

/** Metrics of one prediction column of one model version; a metric that does not apply is absent. */
export interface Metrics {
  readonly task: Task;
  /** Predictions joined with a label (the rows every metric is computed over). */
  readonly count: number;
  /** Predictions with a non-null score, labelled or not. */
  readonly predictions: number;
  /** count / predictions: the share of predictions whose label has arrived; null with no predictions. */
  readonly coverage: number | null;
  /** Published rows whose score is NaN or null: counted here, in no metric and not in predictions. */
  readonly invalid_scores?: number;
  readonly positives?: number;
  readonly threshold?: number;
  readonly roc_auc?: number | null;
  readonly pr_auc?: number | null;
  readonly log_loss?: number | null;
  readonly brier?: number | null;
  readonly accuracy?: number | null;
  readonly precision?: number | null;
  readonly recall?: number | null;
  readonly f1?: number | null;
  readonly calibration?: readonly CalibrationBin[];
  readonly rmse?: number | null;
  readonly mae?: number | null;
  readonly r2?: number | null;
  /** Why each null metric is null, keyed by metric name. */
  readonly undefined_reasons: Readonly<Record<string, string>>;
}

/**
 * binary when every label is 0 or 1 and every score lies in [0, 1]; regression otherwise.
 * A score outside [0, 1] is not a probability, and a label other than 0/1 is not a class.
 */
export function inferTask(scores: ArrayLike<number>, labels: ArrayLike<number>): Task {
  for (let i = 0; i < labels.length; i++) if (labels[i] !== 0 && labels[i] !== 1) return 'regression';
  for (let i = 0; i < scores.length; i++) if (!(scores[i]! >= 0 && scores[i]! <= 1)) return 'regression';
  return 'binary';
}

/** The clip sklearn 1.2's log_loss applies with eps="auto": the float64 machine epsilon. */
const LOG_LOSS_EPS = Number.EPSILON;

/**
 * Metrics of `scores` against `labels` (same length, joined by key; no nulls). `predictions` is how
 * many scored rows the partition has, labelled or not, for coverage.
 */
export function computeMetrics(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  options: { task: Task; threshold: number; predictions: number },
): Metrics {
  const n = scores.length;
  if (labels.length !== n) throw new Error(`metrics: ${n} scores but ${labels.length} labels`);
  const base = {
    count: n,
    predictions: options.predictions,
    coverage: options.predictions > 0 ? n / options.predictions : null,
  };
  const reasons: Record<string, string> = {};
  if (options.task === 'regression') {
    if (n === 0) {
      for (const m of ['rmse', 'mae', 'r2']) reasons[m] = 'no prediction has a label yet';
      return { task: 'regression', ...base, rmse: null, mae: null, r2: null, undefined_reasons: reasons };
    }
    return { task: 'regression', ...base, ...regression(scores, labels, reasons), undefined_reasons: reasons };
  }
  return { task: 'binary', ...base, ...binary(scores, labels, options.threshold, reasons), undefined_reasons: reasons };
}

function binary(s: ArrayLike<number>, y: ArrayLike<number>, threshold: number, reasons: Record<string, string>) {
  const n = s.length;
  let positives = 0;
  for (let i = 0; i < n; i++) positives += y[i]!;
  const none = (names: string[], why: string) => {
    for (const m of names) reasons[m] = why;
    return null;
  };
  if (n === 0) {
    const all = ['roc_auc', 'pr_auc', 'log_loss', 'brier', 'accuracy', 'precision', 'recall', 'f1'];
    none(all, 'no prediction has a label yet');
    return {
      positives: 0,
      threshold,
      ...Object.fromEntries(all.map((m) => [m, null])),
      calibration: calibration(s, y),
    };
  }
  const oneClass = positives === 0 || positives === n;
  const single = `every label is ${positives === 0 ? 0 : 1}: a ranking metric needs both classes`;
  const { rocAuc, prAuc } = oneClass ? { rocAuc: none(['roc_auc'], single), prAuc: null } : curves(s, y);
  if (oneClass) reasons.pr_auc = single;

  let logLoss = 0;
  let brier = 0;
  let tp = 0;
  let fp = 0;
  let tn = 0;
  for (let i = 0; i < n; i++) {
    const p = Math.min(Math.max(s[i]!, LOG_LOSS_EPS), 1 - LOG_LOSS_EPS);
    // sklearn renormalises the clipped [1 - p, p] row, whose sum may miss 1 by an ulp.
    const sum = 1 - p + p;
    logLoss -= y[i] === 1 ? Math.log(p / sum) : Math.log((1 - p) / sum);
    brier += (s[i]! - y[i]!) ** 2;
    const predicted = s[i]! >= threshold;
    if (predicted && y[i] === 1) tp++;
    else if (predicted) fp++;
    else if (y[i] === 0) tn++;
  }
  const fn = positives - tp;
  const precision = tp + fp > 0 ? tp / (tp + fp) : none(['precision'], `no score is at or above ${threshold}`);
  const recall = positives > 0 ? tp / positives : none(['recall'], 'no label is positive');
  const f1 =
    tp + fp + fn > 0
      ? (2 * tp) / (2 * tp + fp + fn)
      : none(['f1'], `no label is positive and no score is at or above ${threshold}`);
  return {
    positives,
    threshold,
    roc_auc: rocAuc,
    pr_auc: prAuc,
    log_loss: logLoss / n,
    brier: brier / n,
    accuracy: (tp + tn) / n,
    precision,
    recall,
    f1,
    calibration: calibration(s, y),
  };
}

/**
 * ROC AUC and average precision from one sort: the cumulative true and false positives at each
 * distinct score, highest first, as sklearn's _binary_clf_curve gives them (tied scores form one
 * point, so ties count half). ROC AUC is the trapezoid under (fpr, tpr); PR AUC is
 * average_precision_score's step sum of precision times the recall gained at each threshold.
 */
function curves(s: ArrayLike<number>, y: ArrayLike<number>): { rocAuc: number; prAuc: number } {
  const n = s.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => s[b]! - s[a]!);
  const tps: number[] = [];
  const fps: number[] = [];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    if (y[i] === 1) tp++;
    else fp++;
    if (k === n - 1 || s[order[k + 1]!] !== s[i]) {
      tps.push(tp);
      fps.push(fp);
    }
  }
  const P = tp;
  const N = fp;
  let roc = 0;
  let ap = 0;
  let prevTpr = 0;
  let prevFpr = 0;
  let prevRecall = 0;
  for (let j = 0; j < tps.length; j++) {
    const tpr = tps[j]! / P;
    const fpr = fps[j]! / N;
    roc += ((fpr - prevFpr) * (tpr + prevTpr)) / 2;
    ap += (tpr - prevRecall) * (tps[j]! / (tps[j]! + fps[j]!));
    prevTpr = tpr;
    prevFpr = fpr;
    prevRecall = tpr;
  }
  return { rocAuc: roc, prAuc: ap };
}

/** Ten bins of width 0.1, each closed above: a score of exactly 0.1·k closes bin k - 1 (numpy's searchsorted, side left, as sklearn uses it). */
function calibration(s: ArrayLike<number>, y: ArrayLike<number>): CalibrationBin[] {
  const count = new Array<number>(10).fill(0);
  const sum = new Array<number>(10).fill(0);
  const pos = new Array<number>(10).fill(0);
  // numpy's linspace(0, 1, 11) is k * 0.1, so 0.30000000000000004 and not 0.3 bounds the fourth bin.
  const edges = Array.from({ length: 11 }, (_, k) => k * 0.1);
  for (let i = 0; i < s.length; i++) {
    let b = 0;
    while (b < 9 && s[i]! > edges[b + 1]!) b++;
    count[b]!++;
    sum[b]! += s[i]!;
    pos[b]! += y[i]!;
  }
  return count.map((c, b) => ({
    lower: b / 10,
    upper: (b + 1) / 10,
    count: c,
    mean_score: c > 0 ? sum[b]! / c : null,
    positive_rate: c > 0 ? pos[b]! / c : null,
  }));
}

function regression(s: ArrayLike<number>, y: ArrayLike<number>, reasons: Record<string, string>) {
  const n = s.length;
  let se = 0;
  let ae = 0;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += y[i]!;
  mean /= n;
  let ssTot = 0;
  for (let i = 0; i < n; i++) {
    const d = y[i]! - s[i]!;
    se += d * d;
    ae += Math.abs(d);
    ssTot += (y[i]! - mean) ** 2;
  }
  let r2: number | null;
  if (ssTot > 0) r2 = 1 - se / ssTot;
  else {
    // sklearn answers 1.0 or 0.0 here (force_finite); a constant label explains nothing either way.
    reasons.r2 = 'every label has the same value: R² needs labels that vary';
    r2 = null;
  }
  return { rmse: Math.sqrt(se / n), mae: ae / n, r2 };
}
