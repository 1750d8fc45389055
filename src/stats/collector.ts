import type { RecordBatch } from 'apache-arrow';
import { columnKind } from '../tensors/column-kind.js';
import type { PredictionColumn } from '../tensors/from-outputs.js';
import { binCounts, psi } from './psi.js';
import type { DriftReport, Distribution, Histogram, RunStats } from './types.js';

const RESERVOIR = 10_000;
const BINS = 10;
/** Per batch and feature at most this many values enter the sample: stats stay cheap per row. */
const FEATURE_SAMPLE_PER_BATCH = 2048;

/** Welford mean/variance, exact min/max, and a seeded reservoir for quantiles and histograms: bounded memory. */
class Accumulator {
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
    const span = this.max - this.min;
    const edges: number[] = [];
    for (let i = 0; i <= BINS; i++) edges.push(this.min + (span * i) / BINS);
    const counts = binCounts(this.sample, edges);
    // The sample stands for all rows; scale its bin counts to the true row count.
    const scale = this.sample.length === 0 ? 0 : this.count / this.sample.length;
    return { edges, counts: counts.map((c) => Math.round(c * scale)) };
  }

  result(): Distribution {
    if (this.count === 0)
      return {
        count: 0,
        mean: null,
        std: null,
        min: null,
        max: null,
        quantiles: {},
        histogram: { edges: [], counts: [] },
      };
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

/** Run statistics gathered while streaming: prediction distributions; feature null rates, means, spreads and histograms. */
export class StatsCollector {
  private readonly predictions = new Map<string, Accumulator>();
  private readonly features = new Map<string, { rows: number; nulls: number; acc: Accumulator }>();

  /** Null count, moments and a small strided sample per feature: one tight loop over each buffer. */
  observeFeatures(batch: RecordBatch, columns: readonly string[]): void {
    for (const name of columns) {
      const v = batch.getChild(name);
      if (!v) continue;
      let f = this.features.get(name);
      if (!f) this.features.set(name, (f = { rows: 0, nulls: 0, acc: new Accumulator() }));
      f.rows += v.length;
      f.nulls += v.nullCount;
      const kind = columnKind(v.type);
      const stride = Math.max(1, Math.ceil(v.length / FEATURE_SAMPLE_PER_BATCH));
      if (kind === 'number' && v.data.length === 1 && v.nullCount === 0) {
        const data = v.data[0]!;
        // data.values already starts at the slice's first value.
        const values = data.values as ArrayLike<number>;
        let shift = NaN;
        let n = 0;
        let sum = 0;
        let sumsq = 0;
        let min = Infinity;
        let max = -Infinity;
        for (let i = 0; i < v.length; i++) {
          const x = values[i]!;
          if (x - x !== 0) continue; // NaN and infinities count as missing
          if (n++ === 0) shift = x;
          const d = x - shift;
          sum += d;
          sumsq += d * d;
          if (x < min) min = x;
          if (x > max) max = x;
        }
        f.nulls += v.length - n;
        const sample: number[] = [];
        for (let i = 0; i < v.length; i += stride) {
          const x = values[i]!;
          if (x - x === 0) sample.push(x);
        }
        f.acc.merge(n, shift, sum, sumsq, min, max, sample);
      } else if (kind === 'number' || kind === 'bigint') {
        for (let i = 0; i < v.length; i++) {
          const x = v.get(i);
          if (x === null) continue;
          const n = Number(x);
          if (n - n !== 0) f.nulls++;
          else f.acc.add(n, i % stride === 0);
        }
      }
    }
  }

  observePredictions(columns: readonly PredictionColumn[]): void {
    for (const col of columns) {
      if (Array.isArray(col.values)) continue;
      let acc = this.predictions.get(col.column);
      if (!acc) this.predictions.set(col.column, (acc = new Accumulator()));
      const values = col.values;
      if (values instanceof BigInt64Array) for (let i = 0; i < values.length; i++) acc.add(Number(values[i]));
      else for (let i = 0; i < values.length; i++) acc.add(values[i]!);
    }
  }

  /** PSI of every prediction column and feature this run shares with the baseline run's stats. */
  drift(baseline: RunStats, baselineRunId: string, maxPsi: number): DriftReport {
    const against = (acc: Accumulator, hist: Histogram | undefined) =>
      hist && hist.counts.length > 0 ? psi(hist.counts, binCounts(acc.sample, hist.edges)) : undefined;
    const predictions: Record<string, number> = {};
    for (const [name, acc] of this.predictions) {
      const v = against(acc, baseline.predictions[name]?.histogram);
      if (v !== undefined) predictions[name] = v;
    }
    const features: Record<string, number> = {};
    for (const [name, f] of this.features) {
      const v = against(f.acc, baseline.features[name]?.histogram);
      if (v !== undefined) features[name] = v;
    }
    const drifted = [...Object.entries(predictions), ...Object.entries(features)]
      .filter(([, v]) => v > maxPsi)
      .sort((a, b) => b[1] - a[1])
      .map(([k]) => k);
    return { baseline_run_id: baselineRunId, max_psi: maxPsi, psi: { predictions, features }, drifted };
  }

  result(): RunStats {
    return {
      predictions: Object.fromEntries([...this.predictions].map(([k, a]) => [k, a.result()])),
      features: Object.fromEntries(
        [...this.features].map(([k, f]) => [
          k,
          {
            null_rate: f.rows === 0 ? 0 : f.nulls / f.rows,
            mean: f.acc.meanOrNull(),
            std: f.acc.std(),
            histogram: f.acc.histogram(),
          },
        ]),
      ),
    };
  }
}
