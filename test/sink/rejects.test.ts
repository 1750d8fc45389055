import {
  Field,
  Int32,
  List,
  Table,
  TimestampMicrosecond,
  TimestampNanosecond,
  makeData,
  makeVector,
  tableFromIPC,
  tableToIPC,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { RejectBuffer, rejectsTable } from '../../src/sink/rejects.js';
import { keyText } from '../../src/sink/copy-encoding.js';
import { keyedLayout } from '../support/sink-layout.js';

// Rejected rows keep their keys as the source stores them: through get() a microsecond timestamp
// failed the run ("cannot be converted to a BigInt"), a nanosecond one lost its last digits, and
// a list of ints came out as zeros, with exit 0.
function batch(ids: bigint[], us: bigint[], ns: bigint[], lists: number[][]) {
  const t = new Table({
    id: makeVector(BigInt64Array.from(ids)),
    us: makeVector(makeData({ type: new TimestampMicrosecond(), length: us.length, data: BigInt64Array.from(us) })),
    ns: makeVector(makeData({ type: new TimestampNanosecond(), length: ns.length, data: BigInt64Array.from(ns) })),
    l: vectorFromArray(lists, new List(new Field('item', new Int32(), true))),
  });
  return tableFromIPC(tableToIPC(t, 'stream')).batches[0]!;
}

/** Each row as stored: its elements of the values buffer, a list's child values. */
function stored(v: Vector): string[] {
  return v.data.flatMap((d) =>
    Array.from({ length: d.length }, (_, i) =>
      d.valueOffsets
        ? Array.from(d.children[0]!.values.subarray(d.valueOffsets[i], d.valueOffsets[i + 1]), String).join(',')
        : String(d.values[i]),
    ),
  );
}

describe('rejected rows', () => {
  it('keep their keys exactly, across batches', () => {
    const big = 9_007_199_254_740_993n;
    const a = batch(
      [1n, big, 3n, -big],
      [66_000_066_999_999n, 1n, 2n, 3n],
      [1_700_000_000_123_456_789n, 5n, 6n, 7n],
      [[1], [10, 20], [], [30, 40, 50]],
    );
    const b = batch([9n], [-1n], [-1_001n], [[7, 8]]);
    const r = new RejectBuffer(a.schema.fields);
    r.add(a, [
      { row: 1, reason: 'NaN in f' },
      { row: 3, reason: 'null in g' },
    ]);
    r.add(b, [{ row: 0, reason: 'NaN in f' }]);
    const t = rejectsTable(r, keyedLayout(a.schema.fields), new Date(0));
    expect(stored(t.getChild('id')!)).toEqual([String(big), String(-big), '9']);
    expect(stored(t.getChild('us')!)).toEqual(['1', '3', '-1']);
    expect(stored(t.getChild('ns')!)).toEqual(['5', '7', '-1001']);
    expect(stored(t.getChild('l')!)).toEqual(['10,20', '30,40,50', '7,8']);
    expect(t.getChild('reason')!.toArray()).toEqual(['NaN in f', 'null in g', 'NaN in f']);
    // The row whose microseconds are not whole milliseconds, and a nanosecond past 2^53.
    r.add(a, [{ row: 0, reason: 'x' }]);
    const t2 = rejectsTable(r, keyedLayout(a.schema.fields), new Date(0));
    expect(stored(t2.getChild('us')!).at(-1)).toBe('66000066999999');
    expect(stored(t2.getChild('ns')!).at(-1)).toBe('1700000000123456789');
  });

  it('make an empty table of the keys’ types when none were rejected', () => {
    const a = batch([1n], [1n], [1n], [[1]]);
    const t = rejectsTable(new RejectBuffer(a.schema.fields), keyedLayout(a.schema.fields), new Date(0));
    expect(t.numRows).toBe(0);
    expect(String(t.getChild('us')!.type)).toBe(String(a.getChild('us')!.type));
  });

  it('reach Postgres text to the microsecond when gathered over several batches', () => {
    // Into a Postgres rejects table a key goes as COPY text; over several batches the key is a
    // vector of several chunks, and a timestamp went through get() (milliseconds) there.
    const a = batch([1n, 2n], [1n, 66_000_066_999_999n], [5n, 6n], [[1], [2]]);
    const b = batch([3n], [-1n], [7n], [[3]]);
    const r = new RejectBuffer(a.schema.fields);
    r.add(a, [
      { row: 0, reason: 'x' },
      { row: 1, reason: 'x' },
    ]);
    r.add(b, [{ row: 0, reason: 'x' }]);
    const us = r.keys(1);
    expect(us.data.length).toBe(2);
    const text = keyText(a.schema.fields[1]!, us);
    expect([0, 1, 2].map(text)).toEqual([
      '1970-01-01T00:00:00.000001',
      '1972-02-03T21:21:06.999999',
      '1969-12-31T23:59:59.999999',
    ]);
  });
});
