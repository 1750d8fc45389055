import {
  Binary,
  Bool,
  DateDay,
  Dictionary,
  Decimal,
  Float32,
  Int32,
  Int64,
  List,
  Field as ArrowField,
  Struct,
  Table,
  TimestampMicrosecond,
  TimestampNanosecond,
  Utf8,
  makeData,
  makeVector,
  tableFromIPC,
  tableToIPC,
  vectorFromArray,
  type Data,
  type Field,
  type Vector,
} from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { chunkTable, decodeDictionary } from '../../src/sink/arrow-chunk.js';
import { keyedLayout } from '../support/sink-layout.js';

// A Parquet sink holds each chunk's keys until its part is written (262,144 rows). A key column
// that is a view into the source batch holds the batch's whole buffer, every feature column with
// it: the part's table must own copies of its keys, equal to them as stored (a timestamp read
// through get() is a number of milliseconds: wrong below the millisecond, beyond 2^53 and before
// 1970), nulls included, for every row or only the kept ones.
const N = 6;
const valid = [true, false, true, true, true, true];
const bitmap = Uint8Array.of(valid.reduce((b, v, i) => b | (v ? 1 << i : 0), 0));
const nullable = (type: Parameters<typeof makeData>[0]['type'], data: unknown) =>
  makeVector(makeData({ type, length: N, nullCount: 1, nullBitmap: bitmap, data } as never));

function sourceBatch() {
  const big = 9_007_199_254_740_993n; // 2^53 + 1
  const t = new Table({
    id: nullable(new Int64(), BigInt64Array.of(10n, 0n, 30n, big, -big, 60n)),
    small: vectorFromArray([1, 2, null, 4, 5, 6], new Int32()),
    f: vectorFromArray([0.5, 1.5, 2.5, null, 4.5, 5.5], new Float32()),
    ns: nullable(new TimestampNanosecond(), BigInt64Array.of(1_704_067_200_001_001_001n, 0n, big, -1n, 3n, -big)),
    // 1900-01-01 plus a few microseconds: negative, with a part below the millisecond.
    us_old: nullable(new TimestampMicrosecond(), BigInt64Array.of(-2_208_988_799_999_985n, 0n, -1n, 1n, 999n, -1001n)),
    day: nullable(new DateDay(), Int32Array.of(-25_567, 0, 19_723, 1, 2, 3)),
    dec: nullable(
      new Decimal(2, 38, 128),
      Uint32Array.from({ length: N * 4 }, (_, i) => (i * 2_654_435_761) >>> 0),
    ),
    name: vectorFromArray(['a', 'bé', null, '', 'long string', 'x'], new Utf8()),
    bin: makeVector(
      makeData({
        type: new Binary(),
        length: N,
        nullCount: 1,
        nullBitmap: bitmap,
        valueOffsets: Int32Array.of(0, 1, 1, 3, 3, 5, 7),
        data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7),
      }),
    ),
  });
  // Read back from one IPC stream, as the Parquet thread hands batches over: every column is a
  // view into that stream's buffer.
  return tableFromIPC(tableToIPC(t, 'stream')).batches[0]!;
}

const layout = (keys: string[], fields: Field[]) => keyedLayout(keys.map((k) => fields.find((f) => f.name === k)!));

/**
 * Each row as stored: null, or its elements of the values buffer (its bytes for strings). As
 * Arrow reads a slice: values and value offsets from its first row, the null bitmap from its offset.
 */
function stored(v: Vector): (string | null)[] {
  return v.data.flatMap((d: Data) =>
    Array.from({ length: d.length }, (_, i) => {
      const at = d.offset + i;
      if (d.nullCount > 0 && d.nullBitmap && !(d.nullBitmap[at >> 3]! & (1 << (at & 7)))) return null;
      if (d.valueOffsets) return Array.from(d.values.subarray(d.valueOffsets[i], d.valueOffsets[i + 1])).join(',');
      return Array.from(d.values.subarray(i * d.stride, (i + 1) * d.stride), String).join(',');
    }),
  );
}

describe('chunkTable', () => {
  const keysets = [['id'], ['small'], ['f'], ['ns'], ['us_old'], ['day'], ['dec'], ['name'], ['bin'], ['id', 'ns']];
  // A batch cut by --limit is a slice; one starting past its first row has an offset, which Arrow
  // applies to the null bitmap only (the values and value offsets are cut already).
  const cases = [
    { keep: undefined, from: 0 },
    { keep: Uint32Array.of(0, 2, 3, 5), from: 0 },
    { keep: undefined, from: 1 },
    { keep: Uint32Array.of(0, 1, 3, 4), from: 1 },
  ];
  for (const { keep, from: start } of cases) {
    it.each(keysets)(
      `copies key column(s) %s out of the source batch, as stored (${keep ? 'kept rows' : 'all rows'}${start ? ', of a slice' : ''})`,
      (...keys) => {
        const batch = sourceBatch().slice(start);
        if (start) expect(batch.getChild('id')!.data[0]!.offset).toBe(start);
        const source = batch.getChild('f')!.data[0]!.values.buffer;
        const rows = keep ? keep.length : batch.numRows;
        const t = chunkTable(
          {
            index: 0,
            rows,
            keys: keys.map((k) => batch.getChild(k)!),
            keep,
            predictions: [{ column: 'score', sqlType: 'double precision', values: new Float64Array(rows) }],
          },
          layout(keys, batch.schema.fields),
        );
        for (const k of keys) {
          const col = t.getChild(k)!;
          const from = batch.getChild(k)!;
          expect(col.data.map((d) => d.values.buffer)).not.toContain(source);
          expect(String(col.type)).toBe(String(from.type));
          const want = stored(from);
          expect(stored(col)).toEqual(keep ? Array.from(keep, (r) => want[r]!) : want);
          expect(col.nullCount).toBe(stored(col).filter((x) => x === null).length);
        }
      },
    );
  }
});

describe('chunkTable with nested keys', () => {
  it('copies list, struct and boolean keys, every row or the kept ones: no part views the source batch', () => {
    // A struct holding a nanosecond timestamp past 2^53, and a list of microsecond ones: through
    // get() they were milliseconds (wrong, or a failed run).
    const ts = makeVector(
      makeData({
        type: new TimestampNanosecond(),
        length: 4,
        data: BigInt64Array.of(1_700_000_000_123_456_789n, 1n, -5n, 9n),
      }),
    );
    const st = new Struct([new ArrowField('x', new Int32(), true), new ArrowField('t', ts.type, true)]);
    const sData = makeData({
      type: st,
      length: 4,
      nullCount: 1,
      nullBitmap: Uint8Array.of(0b0111),
      children: [vectorFromArray([1, 2, 3, 4], new Int32()).data[0]!, ts.data[0]!],
    });
    const usList = new List(new ArrowField('item', new TimestampMicrosecond(), true));
    const lData = makeData({
      type: usList,
      length: 4,
      valueOffsets: Int32Array.of(0, 2, 2, 3, 5),
      child: makeData({
        type: new TimestampMicrosecond(),
        length: 5,
        data: BigInt64Array.of(66_000_066_999_999n, 1n, -2n, 3n, 4n),
      }),
    });
    const t = new Table({
      k: vectorFromArray([[1, 2], [3], null, [4, 5, 6]], new List(new ArrowField('item', new Int32(), true))),
      s: makeVector(sData),
      l: makeVector(lData),
      b: vectorFromArray([true, null, false, true], new Bool()),
    });
    const batch = tableFromIPC(tableToIPC(t, 'stream')).batches[0]!;
    // The run frees the source's buffers once a chunk is written (lent-buffers.ts): a part that
    // kept a view would then read empty rows.
    const source = batch.getChild('b')!.data[0]!.values.buffer;
    const buffers = (d: Data): ArrayBufferLike[] => [
      ...[d.values, d.valueOffsets, d.nullBitmap].filter((x) => x).map((x) => (x as Uint8Array).buffer),
      ...d.children.flatMap(buffers),
    ];
    for (const keep of [undefined, Uint32Array.of(0, 2, 3)]) {
      const rows = keep ? keep.length : batch.numRows;
      const out = chunkTable(
        {
          index: 0,
          rows,
          keys: ['k', 's', 'l', 'b'].map((k) => batch.getChild(k)!),
          keep,
          predictions: [{ column: 'score', sqlType: 'double precision', values: new Float64Array(rows) }],
        },
        layout(['k', 's', 'l', 'b'], batch.schema.fields),
      );
      const json = (v: Vector, i: number) => JSON.stringify(v.get(i)?.toJSON?.() ?? v.get(i));
      const at = keep ? Array.from(keep) : [0, 1, 2, 3];
      for (const k of ['k', 's', 'l', 'b']) {
        const col = out.getChild(k)!;
        expect(col.data.flatMap(buffers)).not.toContain(source);
        expect(at.map((_, i) => json(col, i))).toEqual(at.map((r) => json(batch.getChild(k)!, r)));
      }
      // The nested timestamps as stored, to the unit.
      const stored = (v: Vector) => v.data.flatMap((d) => Array.from(d.values as BigInt64Array, String));
      expect(out.getChild('s')!.data.flatMap((d) => stored(makeVector(d.children[1]!)))).toEqual(
        at.map((r) => String(ts.data[0]!.values[r])),
      );
      // Each list row's child values as stored (offsets into the child, per data chunk).
      const listRows = (v: Vector) =>
        v.data.flatMap((d) =>
          Array.from({ length: d.length }, (_, i) =>
            Array.from(
              (d.children[0]!.values as BigInt64Array).subarray(d.valueOffsets[i], d.valueOffsets[i + 1]),
              String,
            ).join(','),
          ),
        );
      const want = listRows(batch.getChild('l')!);
      expect(listRows(out.getChild('l')!)).toEqual(at.map((r) => want[r]));
    }
  });
});

describe('decodeDictionary', () => {
  // A dictionary's buffer holds indices: its rows are its entries, copied as stored.
  const entries = [1_700_000_000_000_000_777n, -1n, 2n ** 62n];
  const dictionary = makeVector(
    makeData({ type: new TimestampNanosecond(), length: 3, data: BigInt64Array.from(entries), nullCount: 0 } as never),
  );
  // Rows 2 and 5 have a null index; the dictionary's order is not the rows'.
  const indices = [2, 0, 0, 1, 2, 0, 1];
  const validity = new Uint8Array([0b11011011]);
  const v = makeVector(
    makeData({
      type: new Dictionary(new TimestampNanosecond(), new Int32()),
      length: 7,
      nullCount: 2,
      nullBitmap: validity,
      data: Int32Array.from(indices),
      dictionary,
    } as never),
  );
  const rows = (x: Vector) =>
    Array.from({ length: x.length }, (_, i) => (x.isValid(i) ? (x.data[0]!.values as BigInt64Array)[i]! : null));

  it('gives each row its entry exactly, null where its index is null', () => {
    const plain = decodeDictionary(v);
    expect(String(plain.type)).toBe(String(new TimestampNanosecond()));
    expect(rows(plain)).toEqual([entries[2], entries[0], null, entries[1], entries[2], null, entries[1]]);
  });

  it('reads a slice from its first row, its nulls from its offset', () => {
    expect(rows(decodeDictionary(v.slice(2, 6)))).toEqual([null, entries[1], entries[2], null]);
  });

  it('leaves other columns as they are', () => {
    const x = vectorFromArray([1, 2], new Float32());
    expect(decodeDictionary(x)).toBe(x);
  });
});
