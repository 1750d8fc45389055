/** Counts of `values` in the bins of `edges`; the outer bins are open-ended, so every value lands. */
export function binCounts(values: ArrayLike<number>, edges: readonly number[]): number[] {
  const bins = Math.max(1, edges.length - 1);
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    // The last bin whose lower edge is at most v (bins 0 and bins - 1 are open-ended).
    let lo = 0;
    let hi = bins - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (v >= edges[mid]!) lo = mid;
      else hi = mid - 1;
    }
    counts[lo]!++;
  }
  return counts;
}

/**
 * Population stability index of `actual` against `expected` bin counts:
 * Σ (a − e) · ln(a / e) over proportions, with empty bins smoothed so it stays finite.
 */
export function psi(expected: readonly number[], actual: readonly number[]): number {
  const eps = 1e-4;
  const te = expected.reduce((a, b) => a + b, 0);
  const ta = actual.reduce((a, b) => a + b, 0);
  if (te === 0 || ta === 0) return 0;
  let sum = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.max(expected[i]! / te, eps);
    const a = Math.max((actual[i] ?? 0) / ta, eps);
    sum += (a - e) * Math.log(a / e);
  }
  return sum;
}

/** PSI over classes: every class either side has, a class missing on one side counting as empty there. */
export function categoryPsi(expected: Record<string, number>, actual: Record<string, number>): number {
  const keys = [...new Set([...Object.keys(expected), ...Object.keys(actual)])];
  return psi(
    keys.map((k) => expected[k] ?? 0),
    keys.map((k) => actual[k] ?? 0),
  );
}
