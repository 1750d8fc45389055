import { gridEdges } from './grid.js';
import { binCounts } from './psi.js';
import { noNumbers, type Distribution, type Histogram } from './types.js';

// One numeric column's running statistics, fed a value or a batch's sums at a time.

const RESERVOIR = 10_000;

/** Welford mean/variance, exact min/max, and a seeded reservoir for quantiles and histograms: bounded memory. */
export class Accumulator {
  count = 0;
  // The fields that hold fractions start as -0, a number V8 cannot keep as a small integer: one
  // that starts as 0 is stored as an integer until its first fraction, and the change of layout
  // then made V8 throw away its optimized code for the loops that feed it, over and over (30
  // compiles of observePredictions a run were abandoned, half a second of CPU).
  private mean = -0;
  private m2 = -0;
  private min = Infinity;
  private max = -Infinity;
  private readonly reservoir = new Float64Array(RESERVOIR);
  private size = 0;
  private seen = 0;
  private seed = 0x9e3779b9;
  /** Algorithm L's state once the reservoir is full: its weight, and the offer that replaces next. */
  private w = -0;
  private next = 0;

  /** The values kept for quantiles and histograms: every value offered had the same chance. */
  get sample(): Float64Array {
    return this.reservoir.subarray(0, this.size);
  }

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

  /**
   * Reservoir sampling (Li's algorithm L): every value offered has the same chance to stay, and
   * once the reservoir is full, random numbers are drawn only for the values that enter it (a
   * few per thousand late in a long run) instead of for every value.
   */
  private offer(v: number): void {
    this.seen++;
    if (this.size < RESERVOIR) {
      this.reservoir[this.size++] = v;
      if (this.size === RESERVOIR) {
        this.w = Math.exp(Math.log(this.random()) / RESERVOIR);
        this.skip();
      }
    } else if (this.seen === this.next) {
      this.reservoir[Math.floor(this.random() * RESERVOIR)] = v;
      this.w *= Math.exp(Math.log(this.random()) / RESERVOIR);
      this.skip();
    }
  }

  private skip(): void {
    // random() may return 0: log(0) would make the skip infinite; 1 - w may round to 0 likewise.
    const u = Math.max(this.random(), Number.MIN_VALUE);
    this.next = this.seen + Math.floor(Math.log(u) / Math.log1p(-this.w)) + 1;
  }

  /**
   * Offers every `stride`-th finite value of the first `length` of `values` to the reservoir.
   * `allFinite`: the caller knows every value is finite (its moments counted them all). Then, once
   * the reservoir is full, only the values that enter it are visited: the k-th value offered is
   * offer number seen + k + 1, and algorithm L already says which number replaces next. The same
   * sample as offering each one (a test holds them equal); the per-value loop was half the cost
   * of feature statistics (8M offers per 1M rows of 32 features).
   */
  offerStrided(values: ArrayLike<number>, length: number, stride: number, allFinite = false): void {
    let i = 0;
    for (; i < length && (this.size < RESERVOIR || !allFinite); i += stride) {
      const x = values[i]!;
      if (x - x === 0) this.offer(x);
    }
    if (i >= length) return;
    const first = this.seen;
    const count = Math.ceil((length - i) / stride);
    while (this.next <= first + count) {
      this.seen = this.next;
      this.reservoir[Math.floor(this.random() * RESERVOIR)] = values[i + (this.next - first - 1) * stride]!;
      this.w *= Math.exp(Math.log(this.random()) / RESERVOIR);
      this.skip();
    }
    this.seen = first + count;
  }

  /**
   * Merges a batch's moments (Chan et al.), for columns summed in a tight loop (offerStrided feeds
   * the reservoir). The sums are of `x - shift` (shift: any value of the batch), which keeps the
   * variance exact when every value shares a large offset.
   */
  merge(n: number, shift: number, sum: number, sumsq: number, min: number, max: number): void {
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
