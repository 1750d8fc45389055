import { mergeCategories } from './categories.js';
import { mergeHistograms } from './grid.js';
import { noNumbers, type Distribution, type FeatureStats, type RunStats } from './types.js';

// The statistics of several runs as if they were one (the shards of a partition): counts, means,
// standard deviations and null rates exactly, histograms on a common grid (exact for grid
// histograms, see grid.ts), class counts summed, quantiles approximated from each run's own.

/** Count, mean and sample std of the union of groups, each given by its count, mean and sample std. */
function pooled(groups: readonly { n: number; mean: number; std: number }[]) {
  const n = groups.reduce((s, g) => s + g.n, 0);
  const mean = groups.reduce((s, g) => s + g.n * g.mean, 0) / n;
  // Within-group squares plus between-group squares: the two-pass variance of the union.
  const m2 = groups.reduce((s, g) => s + (g.n - 1) * g.std * g.std + g.n * (g.mean - mean) ** 2, 0);
  return { n, mean, std: n > 1 ? Math.sqrt(Math.max(0, m2) / (n - 1)) : 0 };
}

/**
 * The share of a run's values at or below `x`, drawn as straight lines between its min, its
 * recorded quantiles and its max: what is left of its distribution once the rows are gone.
 */
function cdf(d: Distribution): (x: number) => number {
  const knots = [
    [d.min!, 0],
    ...Object.entries(d.quantiles).map(([k, v]) => [v, Number(k.slice(1)) / 100] as const),
    [d.max!, 1],
  ].sort((a, b) => a[1]! - b[1]!) as [number, number][];
  return (x) => {
    if (x < knots[0]![0]) return 0;
    let k = 0;
    while (k + 1 < knots.length && knots[k + 1]![0] <= x) k++;
    const [x0, p0] = knots[k]!;
    const next = knots[k + 1];
    return next ? p0 + ((next[1] - p0) * (x - x0)) / (next[0] - x0) : 1;
  };
}

/** Quantiles of the mixture of `parts` (weighted by count): each part's quantiles interpolated, the mixture inverted by bisection. */
function mixtureQuantiles(parts: readonly Distribution[], min: number, max: number): Record<string, number> {
  const total = parts.reduce((s, d) => s + d.count, 0);
  const fs = parts.map((d) => ({ w: d.count / total, f: cdf(d) }));
  const at = (x: number) => fs.reduce((s, { w, f }) => s + w * f(x), 0);
  const names = [...new Set(parts.flatMap((d) => Object.keys(d.quantiles)))];
  return Object.fromEntries(
    names.map((name) => {
      const p = Number(name.slice(1)) / 100;
      let [lo, hi] = [min, max];
      for (let i = 0; i < 100 && hi - lo > 0; i++) {
        const mid = lo + (hi - lo) / 2;
        if (mid === lo || mid === hi) break;
        if (at(mid) >= p) hi = mid;
        else lo = mid;
      }
      return [name, hi];
    }),
  );
}

/** One prediction column's distribution over several runs. */
export function mergeDistributions(parts: readonly Distribution[]): Distribution {
  const kind = parts.find((d) => d.kind)?.kind;
  const categories = mergeCategories(parts.filter((d) => d.count > 0).map((d) => d.categories));
  const tags = { ...(kind ? { kind } : {}), ...(categories ? { categories } : {}) };
  const count = parts.reduce((s, d) => s + d.count, 0);
  const numeric = parts.filter((d) => d.count > 0 && d.mean !== null && d.min !== null && d.max !== null);
  if (numeric.length === 0) return { ...noNumbers(count), ...tags };
  const { mean, std } = pooled(numeric.map((d) => ({ n: d.count, mean: d.mean!, std: d.std ?? 0 })));
  const min = Math.min(...numeric.map((d) => d.min!));
  const max = Math.max(...numeric.map((d) => d.max!));
  return {
    count,
    mean,
    std,
    min,
    max,
    quantiles: numeric.length === 1 ? numeric[0]!.quantiles : mixtureQuantiles(numeric, min, max),
    histogram: mergeHistograms(numeric.map((d) => d.histogram)),
    ...tags,
  };
}

/** One feature's statistics over several runs; `rows` is each run's row count (FeatureStats.rows, or the run's rows_read for older runs). */
export function mergeFeatures(parts: readonly { stats: FeatureStats; rows: number }[]): FeatureStats {
  const rows = parts.reduce((s, p) => s + p.rows, 0);
  const nulls = parts.reduce((s, p) => s + p.rows * p.stats.null_rate, 0);
  const present = parts
    .map((p) => ({ n: p.rows * (1 - p.stats.null_rate), mean: p.stats.mean, std: p.stats.std ?? 0 }))
    .filter((g): g is { n: number; mean: number; std: number } => g.mean !== null && g.n > 0);
  const moments = present.length > 0 ? pooled(present) : undefined;
  return {
    null_rate: rows === 0 ? 0 : nulls / rows,
    mean: moments?.mean ?? null,
    std: moments?.std ?? null,
    histogram: mergeHistograms(parts.map((p) => p.stats.histogram)),
    rows,
  };
}

/** Several runs' statistics as one run's; `rows` is each run's rows_read, which stands in for feature row counts older runs did not record. */
export function mergeRunStats(parts: readonly { stats: RunStats; rows: number }[]): RunStats {
  const names = (pick: (s: RunStats) => object) => [...new Set(parts.flatMap((p) => Object.keys(pick(p.stats))))];
  const order = parts.find((p) => p.stats.prediction_columns)?.stats.prediction_columns;
  return {
    predictions: Object.fromEntries(
      names((s) => s.predictions).map((name) => [
        name,
        mergeDistributions(parts.flatMap((p) => p.stats.predictions[name] ?? [])),
      ]),
    ),
    features: Object.fromEntries(
      names((s) => s.features).map((name) => [
        name,
        mergeFeatures(
          parts.flatMap((p) => {
            const f = p.stats.features[name];
            return f ? [{ stats: f, rows: f.rows ?? p.rows }] : [];
          }),
        ),
      ]),
    ),
    ...(order ? { prediction_columns: [...order] } : {}),
  };
}
