import type { RecordBatch } from 'apache-arrow';
import type { SqlType } from '../output/columns.js';
import { columnKind, plainNumbers } from '../tensors/column-kind.js';
import type { PredictionColumn } from '../tensors/from-outputs.js';
import { Accumulator } from './accumulator.js';
import { CategoryCounter } from './categories.js';
import { binCounts, categoryPsi, psi } from './psi.js';
import {
  noNumbers,
  type DriftReport,
  type Distribution,
  type Histogram,
  type RunStats,
  type ValueKind,
} from './types.js';

/** Per batch and feature at most this many values enter the sample: stats stay cheap per row. */
const FEATURE_SAMPLE_PER_BATCH = 2048;

const KINDS: Record<SqlType, ValueKind> = {
  'double precision': 'float',
  bigint: 'integer',
  boolean: 'boolean',
  text: 'text',
};

/** A prediction column's statistics: moments and sample of numbers, class counts of labels. */
interface PredictionStats {
  readonly kind: ValueKind;
  /** Undefined for text. */
  readonly acc: Accumulator | undefined;
  /** Undefined for floats: a score is never a class. */
  readonly classes: CategoryCounter | undefined;
  /** Values seen (text columns have no accumulator to count them). */
  seen: number;
}

/**
 * A batch's finite values' count, sums of (x - shift) and squares, min and max: NaN and ±inf count
 * as missing. The hot loop of feature statistics (every value of every feature): one branch for
 * the finite check, none for the first value (the shift is found before the loop).
 */
function moments(values: ArrayLike<number>, length: number) {
  let i = 0;
  while (i < length && values[i]! - values[i]! !== 0) i++;
  if (i === length) return { n: 0, shift: NaN, sum: 0, sumsq: 0, min: Infinity, max: -Infinity };
  const shift = values[i]!;
  let n = 0;
  let sum = 0;
  let sumsq = 0;
  let min = shift;
  let max = shift;
  for (; i < length; i++) {
    const x = values[i]!;
    if (x - x !== 0) continue;
    const d = x - shift;
    n++;
    sum += d;
    sumsq += d * d;
    min = x < min ? x : min;
    max = x > max ? x : max;
  }
  return { n, shift, sum, sumsq, min, max };
}

/** Run statistics gathered while streaming: prediction distributions; feature null rates, means, spreads and histograms. */
export class StatsCollector {
  private readonly predictions = new Map<string, PredictionStats>();
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
      if (plainNumbers(v.type) && v.data.length === 1 && v.nullCount === 0) {
        const data = v.data[0]!;
        // data.values already starts at the slice's first value.
        const values = data.values as ArrayLike<number>;
        const { n, shift, sum, sumsq, min, max } = moments(values, v.length);
        f.nulls += v.length - n;
        f.acc.merge(n, shift, sum, sumsq, min, max);
        f.acc.offerStrided(values, v.length, stride, n === v.length);
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
      let p = this.predictions.get(col.column);
      if (!p) {
        const kind = KINDS[col.sqlType];
        p = {
          kind,
          acc: kind === 'text' ? undefined : new Accumulator(),
          classes: kind === 'float' ? undefined : new CategoryCounter(),
          seen: 0,
        };
        this.predictions.set(col.column, p);
      }
      const { acc, classes } = p;
      const values = col.values;
      p.seen += values.length;
      if (Array.isArray(values)) for (const v of values) classes!.add(v);
      else if (values instanceof BigInt64Array)
        for (let i = 0; i < values.length; i++) {
          const v = Number(values[i]);
          acc!.add(v);
          classes!.add(v);
        }
      else if (values instanceof Uint8Array) {
        let ones = 0;
        for (let i = 0; i < values.length; i++) {
          acc!.add(values[i]!);
          ones += values[i]!;
        }
        classes!.add('false', values.length - ones);
        classes!.add('true', ones);
      } else for (let i = 0; i < values.length; i++) acc!.add(values[i]!);
    }
  }

  private distribution(p: PredictionStats): Distribution {
    const d: Distribution = p.acc ? p.acc.result() : noNumbers(p.seen);
    const categories = p.classes?.result();
    return { ...d, kind: p.kind, ...(categories ? { categories } : {}) };
  }

  /**
   * PSI of every prediction column and feature this run shares with the baseline run's stats: over
   * classes where both sides counted them, else over the baseline's bins.
   */
  drift(baseline: RunStats, baselineRunId: string, maxPsi: number): DriftReport {
    const against = (acc: Accumulator | undefined, hist: Histogram | undefined) => {
      // A baseline with no values compares with nothing: no PSI, rather than a reassuring 0.
      if (!acc || !hist || hist.counts.reduce((a, b) => a + b, 0) === 0) return undefined;
      if (hist.counts.length > 1) return psi(hist.counts, binCounts(acc.sample, hist.edges));
      // One bin (a constant baseline): its outer bins are open-ended and would take every value.
      // Values below and above it are bins of their own, which the baseline left empty.
      const lo = hist.edges[0]!;
      const hi = hist.edges.at(-1)!;
      const below = acc.sample.filter((v) => v < lo).length;
      const above = acc.sample.filter((v) => v > hi).length;
      return psi([0, hist.counts[0]!, 0], [below, acc.sample.length - below - above, above]);
    };
    const predictions: Record<string, number> = {};
    for (const [name, p] of this.predictions) {
      const base = baseline.predictions[name];
      const classes = p.classes?.result();
      const v = base?.categories && classes ? categoryPsi(base.categories, classes) : against(p.acc, base?.histogram);
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
    const all = [...this.predictions];
    return {
      // Text columns last: readers that show the first prediction (the run summary) want a number.
      predictions: Object.fromEntries(
        [...all.filter(([, p]) => p.kind !== 'text'), ...all.filter(([, p]) => p.kind === 'text')].map(([k, p]) => [
          k,
          this.distribution(p),
        ]),
      ),
      prediction_columns: all.map(([k]) => k),
      features: Object.fromEntries(
        [...this.features].map(([k, f]) => [
          k,
          {
            null_rate: f.rows === 0 ? 0 : f.nulls / f.rows,
            mean: f.acc.meanOrNull(),
            std: f.acc.std(),
            histogram: f.acc.histogram(),
            rows: f.rows,
          },
        ]),
      ),
    };
  }
}
