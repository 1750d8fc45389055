import { describe, expect, it } from 'vitest';
import { Bool, Int32, Int64, Table, Utf8, vectorFromArray, type RecordBatch } from 'apache-arrow';
import type { Combine } from '../../src/config/job.js';
import type { OutputColumn } from '../../src/output/columns.js';
import { averagePredictions, mergeRouted, routeRows } from '../../src/run/combine.js';
import type { PredictionColumn } from '../../src/tensors/from-outputs.js';

type Route = Extract<Combine, { mode: 'route' }>;

function batchOf(values: (string | null)[]): RecordBatch {
  return new Table({ region: vectorFromArray(values, new Utf8()) }).batches[0]!;
}

const rows = (candidates: Uint32Array[]) => candidates.map((c) => Array.from(c));

describe('routeRows', () => {
  const batch = batchOf(['eu', 'us', null, 'apac', 'eu', 'us', 'EU']);

  it('routes each row by value and rejects rows with no route, naming the column and the value', () => {
    const combine: Route = { mode: 'route', by: 'region', routes: { eu: 0, us: 1 } };
    const { candidates, unrouted } = routeRows(batch, combine, 2);
    expect(rows(candidates)).toEqual([
      [0, 4],
      [1, 5],
    ]);
    // Matching is exact: 'EU' is not 'eu'.
    expect(unrouted).toEqual([
      { row: 2, reason: 'no route for region = null' },
      { row: 3, reason: 'no route for region = apac' },
      { row: 6, reason: 'no route for region = EU' },
    ]);
    expect(candidates.every((c) => c instanceof Uint32Array)).toBe(true);
  });

  it('sends unmatched values and nulls to the default model, and rejects nothing', () => {
    const combine: Route = { mode: 'route', by: 'region', routes: { eu: 0, us: 1 }, defaultModel: 2 };
    const { candidates, unrouted } = routeRows(batch, combine, 3);
    expect(rows(candidates)).toEqual([
      [0, 4],
      [1, 5],
      [2, 3, 6],
    ]);
    expect(unrouted).toEqual([]);
    // Every row lands exactly once.
    expect(candidates.flatMap((c) => Array.from(c)).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('lets the default model also be a routed one, and leaves models that get no row empty', () => {
    const combine: Route = { mode: 'route', by: 'region', routes: { us: 1 }, defaultModel: 1 };
    const { candidates, unrouted } = routeRows(batch, combine, 3);
    expect(rows(candidates)).toEqual([[], [0, 1, 2, 3, 4, 5, 6], []]);
    expect(unrouted).toEqual([]);
  });

  it('routes on the string form of integer, bigint and boolean values', () => {
    const b = new Table({
      n: vectorFromArray([1, 2, 3, null], new Int32()),
      big: vectorFromArray([10n, 20n, 10n, 30n], new Int64()),
      flag: vectorFromArray([true, false, null, true], new Bool()),
    }).batches[0]!;
    expect(rows(routeRows(b, { mode: 'route', by: 'n', routes: { '1': 0, '3': 1 } }, 2).candidates)).toEqual([
      [0],
      [2],
    ]);
    expect(routeRows(b, { mode: 'route', by: 'n', routes: { '1': 0, '3': 1 } }, 2).unrouted).toEqual([
      { row: 1, reason: 'no route for n = 2' },
      { row: 3, reason: 'no route for n = null' },
    ]);
    const big = routeRows(b, { mode: 'route', by: 'big', routes: { '10': 1, '20': 0 } }, 2);
    expect(rows(big.candidates)).toEqual([[1], [0, 2]]);
    expect(big.unrouted).toEqual([{ row: 3, reason: 'no route for big = 30' }]);
    const flag = routeRows(b, { mode: 'route', by: 'flag', routes: { true: 0, false: 1 } }, 2);
    expect(rows(flag.candidates)).toEqual([[0, 3], [1]]);
    expect(flag.unrouted).toEqual([{ row: 2, reason: 'no route for flag = null' }]);
  });

  it('treats a value named like an Object.prototype member as an unrouted value', () => {
    const b = batchOf(['eu', 'constructor', 'eu']);
    const { candidates, unrouted } = routeRows(b, { mode: 'route', by: 'region', routes: { eu: 0 } }, 1);
    expect(rows(candidates)).toEqual([[0, 2]]);
    expect(unrouted).toEqual([{ row: 1, reason: 'no route for region = constructor' }]);
  });
});

const col = (column: string, values: number[]): PredictionColumn => ({
  column,
  sqlType: 'double precision',
  values: Float64Array.from(values),
});
const plain = (cols: PredictionColumn[]) => cols.map((c) => ({ ...c, values: Array.from(c.values as Float64Array) }));

describe('averagePredictions', () => {
  // Values and weights are chosen so every product and sum is exact in binary floating point.
  const a = [col('p', [0, 1, 2, 4]), col('q', [8, 8, 8, 8])];
  const b = [col('p', [2, 3, 0, 0]), col('q', [0, 4, 16, -8])];

  it('takes the plain mean of each column across models under equal weights', () => {
    expect(plain(averagePredictions([a, b], [1, 1]))).toEqual([
      { column: 'p', sqlType: 'double precision', values: [1, 2, 1, 2] },
      { column: 'q', sqlType: 'double precision', values: [4, 6, 12, 0] },
    ]);
  });

  it('weights each model by weight / Σ weights', () => {
    // 3:1 → 0.75·a + 0.25·b
    const expected = (x: number[], y: number[]) => x.map((v, i) => 0.75 * v + 0.25 * y[i]!);
    expect(plain(averagePredictions([a, b], [3, 1]))).toEqual([
      { column: 'p', sqlType: 'double precision', values: expected([0, 1, 2, 4], [2, 3, 0, 0]) },
      { column: 'q', sqlType: 'double precision', values: expected([8, 8, 8, 8], [0, 4, 16, -8]) },
    ]);
    expect(plain(averagePredictions([a, b], [3, 1]))[0]!.values).toEqual([0.5, 1.5, 1.5, 3]);
    // Only the ratio matters.
    expect(plain(averagePredictions([a, b], [0.3, 0.1]))[0]!.values).toEqual(
      plain(averagePredictions([a, b], [3, 1]))[0]!.values.map((v) => expect.closeTo(v, 12)),
    );
  });

  it('matches a direct Σ wᵢ·xᵢ / Σ wᵢ over three models', () => {
    const c = [col('p', [10, -2, 6, 1]), col('q', [1, 2, 3, 4])];
    const w = [1, 2, 5];
    const parts = [a, b, c];
    const got = averagePredictions(parts, w);
    for (let k = 0; k < 2; k++) {
      for (let r = 0; r < 4; r++) {
        const direct =
          parts.reduce((s, p, m) => s + w[m]! * (p[k]!.values as Float64Array)[r]!, 0) / w.reduce((x, y) => x + y);
        expect((got[k]!.values as Float64Array)[r]).toBeCloseTo(direct, 12);
      }
    }
  });

  it('ignores a model of weight 0 entirely, even its NaN predictions', () => {
    const broken = [col('p', [NaN, NaN, NaN, NaN]), col('q', [NaN, NaN, NaN, NaN])];
    expect(plain(averagePredictions([a, broken, b], [1, 0, 1]))).toEqual(plain(averagePredictions([a, b], [1, 1])));
  });

  it('returns new arrays and leaves the inputs untouched', () => {
    const before = plain(a);
    const out = averagePredictions([a, b], [1, 1]);
    expect(out[0]!.values).not.toBe(a[0]!.values);
    expect(out[0]!.values).toBeInstanceOf(Float64Array);
    expect(plain(a)).toEqual(before);
  });
});

describe('mergeRouted', () => {
  const outputs: OutputColumn[] = [
    { column: 'score', output: 'probabilities', index: 1, sqlType: 'double precision' },
    { column: 'label', output: 'label', sqlType: 'bigint' },
    { column: 'name', output: 'name', sqlType: 'text' },
  ];
  const preds = (rowsOf: number[]): PredictionColumn[] => [
    { column: 'score', sqlType: 'double precision', values: Float64Array.from(rowsOf, (r) => r / 8) },
    { column: 'label', sqlType: 'bigint', values: BigInt64Array.from(rowsOf, (r) => BigInt(r * 100)) },
    { column: 'name', sqlType: 'text', values: rowsOf.map((r) => `row ${r}`) },
  ];

  it('puts rows back in source order, with the model that scored each one', () => {
    // Source rows 0..7; row 3 and row 6 were rejected. Model 1 scored 1, 4, 7; model 0 scored 0, 2, 5.
    const m1 = [1, 4, 7];
    const m0 = [0, 2, 5];
    const merged = mergeRouted(
      [
        { model: 1, keep: Uint32Array.from(m1), predictions: preds(m1) },
        { model: 0, keep: Uint32Array.from(m0), predictions: preds(m0) },
      ],
      outputs,
    );
    const order = [0, 1, 2, 4, 5, 7];
    expect(Array.from(merged.keep)).toEqual(order);
    expect(Array.from(merged.modelIndex)).toEqual([0, 1, 0, 1, 0, 1]);
    expect(merged.predictions.map((p) => [p.column, p.sqlType])).toEqual([
      ['score', 'double precision'],
      ['label', 'bigint'],
      ['name', 'text'],
    ]);
    // Each prediction is still the one computed for its row.
    expect(merged.predictions[0]!.values).toBeInstanceOf(Float64Array);
    expect(Array.from(merged.predictions[0]!.values as Float64Array)).toEqual(order.map((r) => r / 8));
    expect(merged.predictions[1]!.values).toBeInstanceOf(BigInt64Array);
    expect(Array.from(merged.predictions[1]!.values as BigInt64Array)).toEqual(order.map((r) => BigInt(r * 100)));
    expect(merged.predictions[2]!.values).toEqual(order.map((r) => `row ${r}`));
  });

  it('handles a model that scored nothing and a single part', () => {
    const only = [3, 9];
    const merged = mergeRouted(
      [
        { model: 0, keep: new Uint32Array(0), predictions: preds([]) },
        { model: 2, keep: Uint32Array.from(only), predictions: preds(only) },
      ],
      outputs,
    );
    expect(Array.from(merged.keep)).toEqual([3, 9]);
    expect(Array.from(merged.modelIndex)).toEqual([2, 2]);
    expect(merged.predictions[2]!.values).toEqual(['row 3', 'row 9']);
  });

  it('merges nothing into empty columns', () => {
    const merged = mergeRouted([], outputs);
    expect(merged.keep.length).toBe(0);
    expect(merged.modelIndex.length).toBe(0);
    expect(merged.predictions.map((p) => p.values.length)).toEqual([0, 0, 0]);
  });

  it('routes then merges: every routed row comes back once, in order, scored by its model', () => {
    const regions = ['b', 'a', null, 'c', 'a', 'b', 'x', 'a'];
    const combine: Route = { mode: 'route', by: 'region', routes: { a: 0, b: 1, c: 2 } };
    const { candidates, unrouted } = routeRows(batchOf(regions), combine, 3);
    // A stand-in scorer: model m predicts 10·m + row.
    const parts = candidates.map((keep, m) => ({
      model: m,
      keep,
      predictions: [
        {
          column: 'score',
          sqlType: 'double precision' as const,
          values: Float64Array.from(keep, (r) => 10 * m + r),
        },
      ],
    }));
    const merged = mergeRouted(parts, [outputs[0]!]);
    const expected = regions
      .map((g, r) => ({ r, m: g === null ? undefined : combine.routes[g] }))
      .filter((x): x is { r: number; m: number } => x.m !== undefined);
    expect(Array.from(merged.keep)).toEqual(expected.map((x) => x.r));
    expect(Array.from(merged.modelIndex)).toEqual(expected.map((x) => x.m));
    expect(Array.from(merged.predictions[0]!.values as Float64Array)).toEqual(expected.map((x) => 10 * x.m + x.r));
    expect(unrouted.map((u) => u.row)).toEqual([2, 6]);
  });
});
