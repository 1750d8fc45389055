import { gridEdges } from './grid.js';
import { binCounts } from './psi.js';
import { noNumbers, type Distribution, type Histogram } from './types.js';

// One numeric column's running statistics, fed a value or a batch's sums at a time.

const RESERVOIR = 10_000;

/** Welford mean/variance, exact min/max, and a seeded reservoir for quantiles and histograms: bounded memory. */
export class Accumulator {
  count = 0;
  private mean = 0;
  private m2 = 0;
  private min = Infinity;
  private max = -Infinity;
  readonly sample: number[] = [];
  private seen = 0;
  private seed = 0x9e3779b9;

  private random(): number {
    // xorshift32: deterministic, so the same input gives the same stats.
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    return this.seed / 0x100000000;
  }

  /** Counts a value in the moments; `sampled` also offers it to the reservoir. */
  add(v: number, sampled = true): void {
    if (!Number.isFinite(v)) return;
    this.count++;
    const d = v - this.mean;
    this.mean += d / this.count;
    this.m2 += d * (v - this.mean);
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    if (sampled) this.offer(v);
  }

  /** Reservoir sampling (algorithm R): every value offered has the same chance to stay. */
  private offer(v: number): void {
    this.seen++;
    if (this.sample.length < RESERVOIR) this.sample.push(v);
    else {
      const j = Math.floor(this.random() * this.seen);
      if (j < RESERVOIR) this.sample[j] = v;
    }
  }

  /**
   * Merges a batch's moments (Chan et al.), for columns summed in a tight loop; `sample` feeds the
   * reservoir only. The sums are of `x - shift` (shift: any value of the batch), which keeps the
   * variance exact when every value shares a large offset.
   */
  merge(
    n: number,
    shift: number,
    sum: number,
    sumsq: number,
    min: number,
    max: number,
    sample: readonly number[],
  ): void {
    if (n === 0) return;
    const mean = shift + sum / n;
    const m2 = Math.max(0, sumsq - (sum * sum) / n);
    const total = this.count + n;
    const d = mean - this.mean;
    this.m2 += m2 + (d * d * this.count * n) / total;
    this.mean += (d * n) / total;
    this.count = total;
    if (min < this.min) this.min = min;
    if (max > this.max) this.max = max;
    for (const v of sample) this.offer(v);
  }

  histogram(): Histogram {
    if (this.count === 0) return { edges: [], counts: [] };
    const edges = gridEdges(this.min, this.max);
    const counts = binCounts(this.sample, edges);
    // The sample stands for all rows; scale its bin counts to the true row count.
    const scale = this.sample.length === 0 ? 0 : this.count / this.sample.length;
    return { edges, counts: counts.map((c) => Math.round(c * scale)) };
  }

  result(): Distribution {
    if (this.count === 0) return noNumbers(0);
    const sorted = Float64Array.from(this.sample).sort();
    const q = (p: number) =>
      sorted[Math.min(sorted.length - 1, Math.max(0, Math.round((p / 100) * (sorted.length - 1))))]!;
    const quantiles: Record<string, number> = {};
    for (const p of [1, 5, 10, 25, 50, 75, 90, 95, 99]) quantiles[`p${p}`] = q(p);
    return {
      count: this.count,
      mean: this.mean,
      std: this.std(),
      min: this.min,
      max: this.max,
      quantiles,
      histogram: this.histogram(),
    };
  }

  std(): number | null {
    return this.count === 0 ? null : this.count > 1 ? Math.sqrt(this.m2 / (this.count - 1)) : 0;
  }

  meanOrNull(): number | null {
    return this.count === 0 ? null : this.mean;
  }
}
