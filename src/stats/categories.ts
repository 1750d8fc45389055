// Class counts of label-like prediction columns (integer, boolean, text): a binary label is two
// bars and two PSI terms, not a ten-bin histogram of a 0/1 column.

/** A column with more distinct values than this is not treated as categorical. */
export const MAX_CATEGORIES = 20;

/**
 * Counts values until there are too many distinct ones, then stops counting (and costs one check
 * per value). A scan of at most MAX_CATEGORIES keys beats hashing: a binary label finds its key
 * in one or two comparisons.
 */
export class CategoryCounter {
  private readonly keys: (string | number)[] = [];
  private readonly counts: number[] = [];
  private over = false;

  /** Adds `n` rows of value `v`. */
  add(v: string | number, n = 1): void {
    if (this.over || n === 0) return;
    const keys = this.keys;
    for (let i = 0; i < keys.length; i++)
      if (keys[i] === v) {
        this.counts[i]! += n;
        return;
      }
    if (keys.length < MAX_CATEGORIES) {
      keys.push(v);
      this.counts.push(n);
    } else this.over = true;
  }

  /** Rows per value, keyed as text (a JSON object's keys); undefined once over MAX_CATEGORIES values. */
  result(): Record<string, number> | undefined {
    return this.over ? undefined : Object.fromEntries(this.keys.map((k, i) => [String(k), this.counts[i]!]));
  }
}

/** Class names in display order: numerically when every name is a number, else as text. */
export function sortCategories(names: Iterable<string>): string[] {
  const all = [...new Set(names)];
  const numeric = all.every((k) => k.trim() !== '' && Number.isFinite(Number(k)));
  return all.sort((a, b) => (numeric ? Number(a) - Number(b) : a < b ? -1 : a > b ? 1 : 0));
}

/** The sum of class counts; undefined when a part has none or the union is over MAX_CATEGORIES. */
export function mergeCategories(
  parts: readonly (Record<string, number> | undefined)[],
): Record<string, number> | undefined {
  if (parts.length === 0 || parts.some((p) => p === undefined)) return undefined;
  const sum: Record<string, number> = {};
  for (const p of parts) for (const [k, n] of Object.entries(p!)) sum[k] = (sum[k] ?? 0) + n;
  return Object.keys(sum).length > MAX_CATEGORIES ? undefined : sum;
}
