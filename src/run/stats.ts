import type { RecordBatch } from 'apache-arrow';
import { columnKind } from '../tensors/column-kind.js';
import type { PredictionColumn } from '../tensors/from-outputs.js';

const RESERVOIR = 10_000;
const BINS = 10;

export interface Distribution {
  count: number;
  mean: number | null;
  std: number | null;
  min: number | null;
  max: number | null;
  quantiles: Record<string, number>;
  histogram: { edges: number[]; counts: number[] };
}

export interface FeatureStats {
  null_rate: number;
  mean: number | null;
}

export interface RunStats {
  predictions: Record<string, Distribution>;
  features: Record<string, FeatureStats>;
}

/** Welford mean/variance, exact min/max, and a seeded reservoir for quantiles and the histogram: memory stays bounded. */
class Accumulator {
  count = 0;
  private mean = 0;
  private m2 = 0;
  private min = Infinity;
  private max = -Infinity;
  private readonly sample: number[] = [];
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

  add(v: number): void {
    if (!Number.isFinite(v)) return;
    this.count++;
    const d = v - this.mean;
    this.mean += d / this.count;
    this.m2 += d * (v - this.mean);
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    this.seen++;
    if (this.sample.length < RESERVOIR) this.sample.push(v);
    else {
      const j = Math.floor(this.random() * this.seen);
      if (j < RESERVOIR) this.sample[j] = v;
    }
  }

  result(): Distribution {
    if (this.count === 0) return { count: 0, mean: null, std: null, min: null, max: null, quantiles: {}, histogram: { edges: [], counts: [] } };
    const sorted = Float64Array.from(this.sample).sort();
    const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.round((p / 100) * (sorted.length - 1))))]!;
    const quantiles: Record<string, number> = {};
    for (const p of [1, 5, 10, 25, 50, 75, 90, 95, 99]) quantiles[`p${p}`] = q(p);
    const edges: number[] = [];
    const span = this.max - this.min;
    for (let i = 0; i <= BINS; i++) edges.push(this.min + (span * i) / BINS);
    const counts = new Array<number>(BINS).fill(0);
    // The sample stands for all rows; scale its bin counts to the true row count.
    for (const v of sorted) counts[span === 0 ? 0 : Math.min(BINS - 1, Math.floor(((v - this.min) / span) * BINS))]!++;
    const scale = this.count / sorted.length;
    return {
      count: this.count,
      mean: this.mean,
      std: this.count > 1 ? Math.sqrt(this.m2 / (this.count - 1)) : 0,
      min: this.min,
      max: this.max,
      quantiles,
      histogram: { edges, counts: counts.map((c) => Math.round(c * scale)) },
    };
  }
}

/** Run statistics gathered while streaming: prediction distributions and feature null rates and means. */
export class StatsCollector {
  private readonly predictions = new Map<string, Accumulator>();
  private readonly features = new Map<string, { rows: number; nulls: number; sum: number; count: number }>();

  /** Null count and mean per feature: one tight loop over each numeric column's buffer. */
  observeFeatures(batch: RecordBatch, columns: readonly string[]): void {
    for (const name of columns) {
      const v = batch.getChild(name);
      if (!v) continue;
      let f = this.features.get(name);
      if (!f) this.features.set(name, (f = { rows: 0, nulls: 0, sum: 0, count: 0 }));
      f.rows += v.length;
      f.nulls += v.nullCount;
      const kind = columnKind(v.type);
      if (kind === 'number' && v.data.length === 1 && v.nullCount === 0) {
        const data = v.data[0]!;
        const values = data.values as ArrayLike<number>;
        let sum = 0;
        let count = 0;
        for (let i = data.offset, end = data.offset + v.length; i < end; i++) {
          const x = values[i]!;
          if (Number.isFinite(x)) {
            sum += x;
            count++;
          }
        }
        f.sum += sum;
        f.count += count;
      } else if (kind === 'number' || kind === 'bigint') {
        for (let i = 0; i < v.length; i++) {
          const x = v.get(i);
          if (x !== null && Number.isFinite(Number(x))) {
            f.sum += Number(x);
            f.count++;
          }
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

  result(): RunStats {
    return {
      predictions: Object.fromEntries([...this.predictions].map(([k, a]) => [k, a.result()])),
      features: Object.fromEntries([...this.features].map(([k, f]) => [k, { null_rate: f.rows === 0 ? 0 : f.nulls / f.rows, mean: f.count === 0 ? null : f.sum / f.count }])),
    };
  }
}
