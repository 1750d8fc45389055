import { describe, expect, it } from 'vitest';
import { Float16, Float32, Float64, Int32, Table, Uint64, Utf8, vectorFromArray, Int64 } from 'apache-arrow';
import type { OnNull } from '../../src/config/job.js';
import { QualityGateError } from '../../src/errors.js';
import { missingMask, toFeeds, type NullPolicy } from '../../src/tensors/to-feeds.js';
import type { InputFeed } from '../../src/tensors/io-plan.js';

const batch = new Table({
  a: vectorFromArray([1, NaN, 3, 4, Infinity], new Float64()),
  b: vectorFromArray([10, 20, null, 40, 50], new Float64()),
  s: vectorFromArray(['x', null, 'z', 'w', 'v'], new Utf8()),
  i: vectorFromArray([1n, 2n, 3n, null, 5n], new Int64()),
}).batches[0]!;
const policy =
  (m: Record<string, OnNull>, d: OnNull = { mode: 'error' }): NullPolicy =>
  (c) =>
    m[c] ?? d;
const matrix: InputFeed[] = [{ input: 'X', type: 'float32', columns: ['a', 'b'], rank: 2 }];

describe('Arrow batch → tensors', () => {
  it('reads float16 columns as numbers, not as their 16-bit patterns', () => {
    const half = new Table({ h: vectorFromArray([0.5, 1, -2, NaN, 0.25], new Float16()) }).batches[0]!;
    expect(Array.from(missingMask(half.getChild('h')!)!)).toEqual([0, 0, 0, 2, 0]);
    const f = toFeeds(
      half,
      [{ input: 'X', type: 'float32', columns: ['h'], rank: 2 }],
      policy({ h: { mode: 'skip' } }),
    );
    expect(Array.from(f.feeds[0]!.data as Float32Array)).toEqual([0.5, 1, -2, 0.25]);
  });

  it('reads a slice of a batch as its rows: values from its first row, nulls from its offset', () => {
    // A batch cut past its first row has an offset, which Arrow applies to the null bitmap only.
    const wide = new Table({
      a: vectorFromArray([9, 9, 1, NaN, 3, 4, Infinity], new Float64()),
      b: vectorFromArray([9, null, 10, 20, null, 40, 50], new Float64()),
    }).batches[0]!;
    const slice = wide.slice(2);
    expect(slice.getChild('a')!.data[0]!.offset).toBe(2);
    expect(Array.from(missingMask(slice.getChild('a')!)!)).toEqual([0, 2, 0, 0, 2]);
    expect(Array.from(missingMask(slice.getChild('b')!)!)).toEqual([0, 0, 1, 0, 0]);
    const p = policy({ a: { mode: 'skip' }, b: { mode: 'fill', value: -1 } });
    const fromSlice = toFeeds(slice, matrix, p);
    expect(Array.from(fromSlice.feeds[0]!.data as Float32Array)).toEqual([1, 10, 3, -1, 4, 40]);
    // Every row kept: the column-at-a-time copy, one column per input.
    const one = toFeeds(
      slice,
      [{ input: 'b', type: 'float64', columns: ['b'], rank: 1 }],
      policy({}, { mode: 'fill', value: 0 }),
    );
    expect(Array.from(one.feeds[0]!.data as Float64Array)).toEqual([10, 20, 0, 40, 50]);
    const bothColumns = toFeeds(wide.slice(2, 3), matrix, policy({}, { mode: 'skip' }));
    expect(Array.from(bothColumns.feeds[0]!.data as Float32Array)).toEqual([1, 10]);
  });

  it('builds the same tensors in one pass as the general way, and leaves a batch with a missing value to it', () => {
    const n = 1000;
    const make = (bad?: number) =>
      new Table({
        f: vectorFromArray(
          Array.from({ length: n }, (_, i) => (i === bad ? NaN : i / 7 - 30)),
          new Float32(),
        ),
        d: vectorFromArray(
          Array.from({ length: n }, (_, i) => (i % 9) * 1e-3 + 1e6),
          new Float64(),
        ),
        k: vectorFromArray(
          Array.from({ length: n }, (_, i) => i % 13),
          new Int32(),
        ),
      }).batches[0]!;
    const inputs: InputFeed[] = [
      { input: 'X', type: 'float32', columns: ['f', 'd', 'k'], rank: 2 },
      { input: 'Y', type: 'float64', columns: ['d'], rank: 1 },
    ];
    const all = Uint32Array.from({ length: n }, (_, i) => i);
    const p = policy({}, { mode: 'skip' });
    // Candidates (every row) send a batch the general way: the reference.
    for (const [b, rows] of [
      [make(), n],
      [make(0), n - 1],
      [make(n - 1), n - 1],
      [make(500).slice(1, 900), 898],
    ] as const) {
      const one = toFeeds(b, inputs, p);
      const general = toFeeds(b, inputs, p, 0, all.subarray(0, b.numRows));
      expect(one.rows).toBe(rows);
      expect(one.feeds).toEqual(general.feeds);
      expect(one.rejects).toEqual(general.rejects);
    }
  });

  it('refuses a value its input cannot hold (float32 overflow, an integer out of range), by every path', () => {
    const table = (x: number[], type: Float64 | Int32 = new Float64()) =>
      new Table({
        x: vectorFromArray(x, type),
        // Row 0 is NaN here: the batch takes the general way, and under skip the kept rows' copy.
        y: vectorFromArray(
          x.map((_, i) => (i === 0 ? NaN : 1)),
          new Float64(),
        ),
      }).batches[0]!;
    const cases: [InputFeed['type'], number[], Float64 | Int32][] = [
      ['float32', [1, 2, 1e39, 4], new Float64()],
      ['float32', [1, 2, -1e39, 4], new Float64()],
      ['int32', [1, 2, 3e9, 4], new Float64()],
      ['uint8', [1, 2, 300, 4], new Int32()],
      ['int8', [1, 2, -129, 4], new Int32()],
    ];
    for (const [type, x, arrowType] of cases) {
      const inputs: InputFeed[] = [{ input: 'in', type, columns: ['x'], rank: 2 }];
      const message = `tensors: column "x" has the value ${x[2]}, which the ${type} model input "in" cannot hold; clean or rescale it in the source.`;
      // One pass (no missing value in the input's columns), the general way (candidates), the kept
      // rows' copy (skip drops row 0 for y, which the second input reads).
      const b = table(x, arrowType);
      expect(() => toFeeds(b, inputs, policy({}))).toThrow(message);
      expect(() => toFeeds(b, inputs, policy({}), 0, Uint32Array.from([1, 2, 3]))).toThrow(message);
      const withY: InputFeed[] = [...inputs, { input: 'y', type: 'float64', columns: ['y'], rank: 2 }];
      expect(() => toFeeds(b, withY, policy({}, { mode: 'skip' }))).toThrow(message);
    }
    // Value by value (a null to fill sends the column that way).
    const nulls = new Table({ x: vectorFromArray([null, 2, 1e39, 4], new Float64()) }).batches[0]!;
    expect(() =>
      toFeeds(
        nulls,
        [{ input: 'in', type: 'float32', columns: ['x'], rank: 2 }],
        policy({}, { mode: 'fill', value: 0 }),
      ),
    ).toThrow('tensors: column "x" has the value 1e+39, which the float32 model input "in" cannot hold');
    // int64: a BigInt64Array keeps the low 64 bits, which turned 1e19 negative.
    const int64 = [{ input: 'in', type: 'int64', columns: ['x'], rank: 2 }] as InputFeed[];
    expect(() => toFeeds(table([1, 2, 1e19, 4]), int64, policy({}))).toThrow(
      'tensors: column "x" has the value 10000000000000000000, which the int64 model input "in" cannot hold; clean or rescale it in the source.',
    );
    const uint64 = new Table({ x: vectorFromArray([1n, 10n ** 19n], new Uint64()) }).batches[0]!;
    expect(() => toFeeds(uint64, int64, policy({}))).toThrow(
      'tensors: column "x" has the value 10000000000000000000, which the int64 model input "in" cannot hold',
    );
    expect(
      Array.from(toFeeds(table([1, -(2 ** 62), 2 ** 62, 0]), int64, policy({})).feeds[0]!.data as BigInt64Array),
    ).toEqual([1n, -(2n ** 62n), 2n ** 62n, 0n]);
    // A fill the input cannot hold is the job's to change: named as the job's, exit 2.
    for (const [type, value] of [
      ['int32', NaN],
      ['int32', 3e9],
      ['float32', 1e39],
      ['int64', 1e19],
      ['int64', NaN],
    ] as const) {
      const feed = [{ input: 'in', type, columns: ['x'], rank: 2 }] as InputFeed[];
      let err: unknown;
      try {
        toFeeds(nulls, feed, policy({}, { mode: 'fill', value }));
      } catch (e) {
        err = e;
      }
      expect((err as Error).message, `${type} ${value}`).toBe(
        `job: on_null fills column "x" with ${value}, which the ${type} model input "in" cannot hold; choose a fill value it can hold (on_null or on_null_features).`,
      );
      expect((err as { exitCode: number }).exitCode).toBe(2);
    }
    // What fits is fed as before: float32 rounding, and an integer input's truncation.
    const fits = toFeeds(
      table([1.5, 1e38, -2.75, 0]),
      [{ input: 'f', type: 'float32', columns: ['x'], rank: 2 }],
      policy({}),
    );
    expect(Array.from(fits.feeds[0]!.data as Float32Array)).toEqual([1.5, Math.fround(1e38), -2.75, 0]);
    const truncated = toFeeds(
      table([1.5, 2e9, -2.75, 0]),
      [{ input: 'i', type: 'int32', columns: ['x'], rank: 2 }],
      policy({}),
    );
    expect(Array.from(truncated.feeds[0]!.data as Int32Array)).toEqual([1, 2e9, -2, 0]);
  });

  it('counts nulls, NaN and infinities as missing', () => {
    expect(Array.from(missingMask(batch.getChild('a')!)!)).toEqual([0, 2, 0, 0, 2]);
    expect(Array.from(missingMask(batch.getChild('b')!)!)).toEqual([0, 0, 1, 0, 0]);
    expect(missingMask(vectorFromArray([1, 2], new Float64()))).toBeUndefined();
  });

  it('skips rows per feature, fills others, and counts both', () => {
    const f = toFeeds(batch, matrix, policy({ a: { mode: 'skip' }, b: { mode: 'fill', value: -1 } }));
    expect(Array.from(f.keep!)).toEqual([0, 2, 3]);
    expect(f.rejects).toEqual([
      { row: 1, reason: 'NaN or infinite in a' },
      { row: 4, reason: 'NaN or infinite in a' },
    ]);
    expect(f.filled).toBe(1);
    expect(f.feeds[0]!.dims).toEqual([3, 2]);
    expect(Array.from(f.feeds[0]!.data as Float32Array)).toEqual([1, 10, 3, -1, 4, 40]);
  });

  it('fails on a missing value under error, naming the column, the kind and the row', () => {
    expect(() => toFeeds(batch, matrix, policy({ b: { mode: 'skip' } }), 100)).toThrow(
      new QualityGateError(
        'source: column "a" has a NaN or infinite value (source row 101) and on_null is error; set on_null: skip or on_null: { fill: VALUE } in the job, or fix the data.',
        { code: 'null_feature' },
      ),
    );
  });

  it('casts to the declared input type: numbers to strings, int64 to BigInt64Array', () => {
    const f = toFeeds(
      batch,
      [
        { input: 's', type: 'string', columns: ['s'], rank: 2 },
        { input: 'i', type: 'int64', columns: ['i'], rank: 1 },
        { input: 'n', type: 'string', columns: ['b'], rank: 2 },
      ],
      policy({}, { mode: 'fill', value: 0 }),
    );
    expect(f.feeds.map((x) => Array.from(x.data as ArrayLike<unknown>))).toEqual([
      ['x', '0', 'z', 'w', 'v'],
      [1n, 2n, 3n, 0n, 5n],
      ['10', '20', '0', '40', '50'],
    ]);
    expect(f.feeds[1]!.dims).toEqual([5]);
  });
});
