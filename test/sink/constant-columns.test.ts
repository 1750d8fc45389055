import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import {
  Dictionary,
  Float64,
  Int8,
  Int64,
  Table,
  Field as ArrowField,
  Int32,
  Struct,
  TimestampMicrosecond,
  TimestampMillisecond,
  TimestampSecond,
  Utf8,
  type DataType,
  makeData,
  makeVector,
  tableFromIPC,
  tableToIPC,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { readFooter, spliceConstantColumns, valueBytes } from '../../src/sink/constant-columns.js';
import { withConstantsApart, type Constant } from '../../src/sink/parquet-encoder.js';
import { encodePart } from '../../src/sink/parquet-encode.js';
import { METADATA_NAMES } from '../../src/output/columns.js';
import { field, readStruct, type TList, type TStruct, type TValue } from '../../src/sink/thrift-compact.js';
import { scratchDir } from '../support/job.js';

// A part's constant columns (model_name, model_version, partition, run_id, scored_at) are written all
// null by parquet-wasm and their chunks replaced by ones made here. The made chunk must be what
// parquet-rs writes for the value: compared with parquet-rs's own chunk for the same column,
// page bytes and every footer field, page index and size statistics included (offsets aside),
// for each codec and the row counts around a page's 20,000 rows. Then read by DuckDB and
// parquet-wasm, with the other columns around them and several row groups.

const pw = createRequire(import.meta.url)('parquet-wasm') as typeof import('parquet-wasm');
const CODECS = ['ZSTD', 'SNAPPY', 'LZ4_RAW', 'UNCOMPRESSED', 'GZIP'] as const;

let nextId = 7_000;
function constantColumn(value: string, n: number, asNull = false): Vector {
  const dictionary = vectorFromArray([value], new Utf8());
  const nulls = asNull ? { nullCount: n, nullBitmap: new Uint8Array((n + 7) >> 3) } : {};
  const type = new Dictionary(new Utf8(), new Int8(), nextId++);
  return makeVector(makeData({ type, length: n, data: new Int8Array(n), dictionary, ...nulls } as never));
}

function timestampColumn(value: bigint, n: number, asNull = false, type: DataType = new TimestampMillisecond('UTC')) {
  const nulls = asNull ? { nullCount: n, nullBitmap: new Uint8Array((n + 7) >> 3) } : {};
  return makeVector(
    makeData({ type, length: n, data: new BigInt64Array(n).fill(asNull ? 0n : value), ...nulls } as never),
  );
}

const KINDS = {
  text: (rows: number) => {
    const value = rows === 1 ? '' : rows === 20_001 ? 'Zürich-模型-ü' : 'run-0d6f1c9e-2b7a-4d8e-9a5c';
    return { value, bytes: valueBytes(value), column: (asNull: boolean) => constantColumn(value, rows, asNull) };
  },
  'text of 64 bytes': (rows: number) => {
    // 64 bytes that do not compress (parquet-rs compresses a dictionary page that does; the page
    // made here is stored, as valid, but not the same bytes).
    const value = Array.from({ length: 64 }, (_, i) => String.fromCharCode(33 + i)).join('');
    return { value, bytes: valueBytes(value), column: (asNull: boolean) => constantColumn(value, rows, asNull) };
  },
  'timestamp[ms, UTC]': (rows: number) => {
    const value = 1_764_245_076_278n;
    return { value, bytes: valueBytes(value), column: (asNull: boolean) => timestampColumn(value, rows, asNull) };
  },
  'timestamp[us]': (rows: number) => {
    // Before 1970: a negative value, its statistics in signed order.
    const value = -86_400_000_001n;
    const type = new TimestampMicrosecond();
    return { value, bytes: valueBytes(value), column: (asNull: boolean) => timestampColumn(value, rows, asNull, type) };
  },
};

function write(table: Table, codec: (typeof CODECS)[number], rowGroup?: number): Uint8Array {
  let props = new pw.WriterPropertiesBuilder().setCompression(pw.Compression[codec]);
  if (rowGroup) props = props.setMaxRowGroupSize(rowGroup);
  return pw.writeParquet(pw.Table.fromIPCStream(tableToIPC(table, 'stream')), props.build());
}

/** Row group 0's chunk of column `c`: its ColumnChunk, bytes, column index and offset index, offsets made relative. */
function chunkOf(file: Uint8Array, c: number, rowGroup = 0) {
  const { footer } = readFooter(file);
  const group = (field<TList>(footer, 4)!.items as TStruct[])[rowGroup]!;
  const chunk = structuredClone((field<TList>(group, 1)!.items as TStruct[])[c]!);
  const meta = field<TStruct>(chunk, 3)!;
  const base = field<bigint>(meta, 11)!;
  const bytes = file.slice(Number(base), Number(base) + Number(field<bigint>(meta, 7)));
  const at = (id: number) => Number(field<bigint>(chunk, id));
  const columnIndex = file.slice(at(6), readStruct(file, at(6)).end);
  const offsetIndex = readStruct(file, at(4)).struct;
  for (const loc of field<TList>(offsetIndex, 1)!.items as TStruct[])
    loc.fields[0]!.value = (loc.fields[0]!.value as bigint) - base;
  for (const f of meta.fields) if (f.id === 9 || f.id === 11) f.value = (f.value as bigint) - base;
  // Offsets, and the offset index's length (its varints grow with the offsets).
  const kept = chunk.fields.filter((f) => f.id === 2 || f.id === 3 || f.id === 7);
  return { chunk: { fields: kept }, bytes, columnIndex, offsetIndex, group };
}

const plain = (v: TValue) =>
  JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? Array.from(x) : x));

describe('constant columns', () => {
  for (const [kind, make] of Object.entries(KINDS))
    for (const codec of CODECS)
      for (const rows of [1, 19_999, 20_000, 20_001, 262_144])
        it(`are the chunk parquet-rs writes (${kind}, ${codec}, ${rows} rows)`, () => {
          const { value, bytes, column: columnOf } = make(rows);
          // A first column before it: a part's first column is never taken apart.
          const ids = makeVector(BigInt64Array.from({ length: rows }, (_, i) => BigInt(i)));
          // The placeholder as the sink makes it: the column replaced in the part, its schema kept.
          const part = new Table({ id: ids, run_id: columnOf(false) });
          const reference = write(part, codec);
          const placeholder = write(part.setChildAt(1, columnOf(true)), codec);
          const made = spliceConstantColumns(placeholder, new Map([['run_id', bytes]]));
          const want = chunkOf(reference, 1);
          const got = chunkOf(made, 1);
          // The schema, the Arrow schema and the rest of the footer are the placeholder's, and parquet-rs's.
          const rest = (f: Uint8Array) => plain({ fields: readFooter(f).footer.fields.filter((x) => x.id !== 4) });
          expect(rest(made)).toBe(rest(reference));
          expect(plain(got.chunk)).toBe(plain(want.chunk));
          expect(plain(got.offsetIndex)).toBe(plain(want.offsetIndex));
          expect(Array.from(got.columnIndex)).toEqual(Array.from(want.columnIndex));
          const { group: g1 } = got;
          const { group: g0 } = want;
          for (const id of [2, 3, 6]) expect(plain(field(g1, id)!)).toBe(plain(field(g0, id)!));
          if (codec === 'GZIP') {
            // The same pages; zlib's gzip header and stream are not flate2's byte for byte.
            expect(got.bytes.length).toBe(want.bytes.length);
            const pages = (b: Uint8Array) => {
              const out: number[][] = [];
              for (let at = 0; at < b.length;) {
                const { struct, end } = readStruct(b, at);
                const size = field<number>(struct, 3)!;
                out.push(Array.from(gunzipSync(b.subarray(end, end + size))));
                at = end + size;
              }
              return out;
            };
            expect(pages(got.bytes)).toEqual(pages(want.bytes));
          } else expect(Buffer.from(got.bytes).equals(Buffer.from(want.bytes))).toBe(true);
          const back = tableFromIPC(pw.readParquet(made).intoIPCStream());
          expect(back.numRows).toBe(rows);
          const column = back.getChild('run_id')!;
          expect(column.nullCount).toBe(0);
          expect(String(column.type)).toBe(String(new Table({ c: columnOf(false) }).getChild('c')!.type));
          // Every row's value as stored (a timestamp's integer, not get()'s milliseconds).
          const values =
            typeof value === 'string'
              ? Array.from(column)
              : column.data.flatMap((d) => Array.from(d.values as BigInt64Array).slice(0, d.length));
          expect(values.length).toBe(rows);
          expect(values.every((v) => v === value)).toBe(true);
        });

  it('are read whole by DuckDB and parquet-wasm beside other columns, over several row groups, values up to 64 bytes', async () => {
    const rows = 130_000;
    // The longest value made here: 62 ASCII bytes and a 2-byte character.
    const long = 'x'.repeat(62) + 'ü';
    const ids = BigInt64Array.from({ length: rows }, (_, i) => BigInt(i));
    const scores = Float64Array.from({ length: rows }, (_, i) => i / rows);
    const table = (asNull: boolean) =>
      new Table({
        id: makeVector(ids),
        model_name: constantColumn('churn', rows, asNull),
        partition: constantColumn(long, rows, asNull),
        score: makeVector(scores),
        run_id: constantColumn('20261127T120436Z-a543bd', rows, asNull),
        scored_at: timestampColumn(1_764_245_076_278n, rows, asNull),
      });
    const constants = new Map([
      ['model_name', valueBytes('churn')],
      ['partition', valueBytes(long)],
      ['run_id', valueBytes('20261127T120436Z-a543bd')],
      ['scored_at', valueBytes(1_764_245_076_278n)],
    ]);
    const s = scratchDir('constant-columns');
    const instance = await DuckDBInstance.create(':memory:');
    const db = await instance.connect();
    const rowsOf = async (sql: string) => (await db.runAndReadAll(sql)).getRowObjectsJson();
    try {
      for (const codec of CODECS) {
        const file = path.join(s.dir, `${codec}.parquet`);
        writeFileSync(file, spliceConstantColumns(write(table(true), codec, 50_000), constants));
        expect(
          await rowsOf(`SELECT count(*) AS n, count(DISTINCT row_group_id) AS groups FROM parquet_metadata('${file}')`),
        ).toEqual([{ n: '18', groups: '3' }]);
        const summary = await rowsOf(
          `SELECT model_name, length(partition) AS len, run_id, epoch_ms(scored_at) AS at, count(*) AS n, sum(id) AS ids, min(score) AS lo FROM '${file}' GROUP BY ALL`,
        );
        expect(summary).toEqual([
          {
            model_name: 'churn',
            len: '63',
            run_id: '20261127T120436Z-a543bd',
            at: '1764245076278',
            n: String(rows),
            ids: String((rows * (rows - 1)) / 2),
            lo: 0,
          },
        ]);
        // Statistics as DuckDB reads them: min and max the value, no nulls; a filter on them prunes to nothing.
        const stats = await rowsOf(
          `SELECT DISTINCT stats_min_value AS lo, stats_max_value AS hi, stats_null_count AS nulls FROM parquet_metadata('${file}') WHERE path_in_schema = 'run_id'`,
        );
        expect(stats).toEqual([{ lo: '20261127T120436Z-a543bd', hi: '20261127T120436Z-a543bd', nulls: '0' }]);
        expect(
          await rowsOf(
            `SELECT count(*) AS n FROM '${file}' WHERE run_id <> '20261127T120436Z-a543bd' OR run_id IS NULL`,
          ),
        ).toEqual([{ n: '0' }]);
        expect(
          await rowsOf(
            `SELECT count(*) AS n FROM '${file}' WHERE scored_at = make_timestamptz(1764245076278000) AND id < 10`,
          ),
        ).toEqual([{ n: '10' }]);
        const back = tableFromIPC(pw.readParquet(new Uint8Array(readFileSync(file))).intoIPCStream());
        expect(back.getChild('partition')!.get(rows - 1)).toBe(long);
        expect(back.getChild('id')!.get(rows - 1)).toBe(BigInt(rows - 1));
      }
    } finally {
      db.closeSync();
      instance.closeSync();
      s.remove();
    }
  });

  it('finds a column among the top-level ones only (a key struct may have a child of its name), and leaves an empty part as it is', () => {
    const rows = 30;
    const child = vectorFromArray(
      Array.from({ length: rows }, (_, i) => ({ run_id: i })),
      new Struct([new ArrowField('run_id', new Int32(), true)]),
    );
    const part = new Table({ key: child, run_id: constantColumn('r-1', rows) });
    const made = spliceConstantColumns(
      write(part.setChildAt(1, constantColumn('r-1', rows, true)), 'ZSTD'),
      new Map([['run_id', valueBytes('r-1')]]),
    );
    const back = tableFromIPC(pw.readParquet(made).intoIPCStream());
    expect(Array.from(back.getChild('run_id')!)).toEqual(Array(rows).fill('r-1'));
    expect(back.getChild('key')!.get(29)!.toJSON()).toEqual({ run_id: 29 });
    const empty = write(
      new Table({ id: makeVector(new Float64Array(0)), run_id: constantColumn('x', 0, true) }),
      'ZSTD',
    );
    const same = spliceConstantColumns(empty, new Map([['run_id', valueBytes('x')]]));
    expect(tableFromIPC(pw.readParquet(same).intoIPCStream()).numRows).toBe(0);
  });

  it('refuses a placeholder that holds values, or a column that is neither text nor a timestamp', () => {
    const real = write(new Table({ id: makeVector(new Float64Array(10)), run_id: constantColumn('a', 10) }), 'ZSTD');
    expect(() => spliceConstantColumns(real, new Map([['run_id', valueBytes('a')]]))).toThrow(
      'constant column run_id: its placeholder chunk is not all null',
    );
    const refused = (column: Vector, value: Uint8Array) =>
      expect(() => spliceConstantColumns(write(new Table({ c: column }), 'ZSTD'), new Map([['c', value]]))).toThrow(
        'constant column c: not an optional text (of at most 64 bytes) or timestamp column of the part',
      );
    refused(makeVector(new Float64Array(10)), valueBytes('a'));
    // An integer that is not a timestamp: its sort order may be unsigned.
    refused(makeVector(new BigInt64Array(10)), valueBytes(1n));
    refused(timestampColumn(0n, 10, true), valueBytes('not 8 bytes'));
    // parquet-rs cuts longer statistics to 64 bytes.
    refused(constantColumn('x', 10, true), valueBytes('x'.repeat(65)));
    // The first column stays where parquet-wasm wrote it.
    const first = write(new Table({ c: constantColumn('x', 10, true), d: constantColumn('x', 10, true) }), 'ZSTD');
    expect(() => spliceConstantColumns(first, new Map([['c', valueBytes('x')]]))).toThrow(/first column/);
  });
});

describe('withConstantsApart', () => {
  const n = 5;
  const dictionaryColumn = (values: string[], indices: number[], nulls?: number) =>
    makeVector(
      makeData({
        type: new Dictionary(new Utf8(), new Int8(), nextId++),
        length: n,
        data: Int8Array.from(indices),
        dictionary: vectorFromArray(values, new Utf8()),
        ...(nulls === undefined ? {} : { nullCount: 1, nullBitmap: Uint8Array.of(nulls) }),
      } as never),
    );
  const id = () => vectorFromArray([1n, 2n, 3n, 4n, 5n], new Int64());
  const bytes = (v: string) => valueBytes(v);

  it('takes apart the named text columns whose dictionary holds one value, with no nulls, in every chunk', () => {
    const table = new Table({
      id: id(),
      model: constantColumn('churn', n),
      routed: dictionaryColumn(['a', 'b'], [0, 1, 0, 1, 0]),
      nullable: dictionaryColumn(['a'], [0, 0, 0, 0, 0], 0b11110),
      // Two entries of one value, as partition and run_id under combine: route: constant.
      repeated: dictionaryColumn(['p', 'p'], [0, 1, 1, 0, 1]),
      unnamed: constantColumn('churn', n),
      score: vectorFromArray([0.1, 0.2, 0.3, 0.4, 0.5], new Float64()),
    });
    const names = ['model', 'routed', 'nullable', 'repeated', 'score'];
    const apart = withConstantsApart(table, names);
    expect(apart.constants).toEqual([
      ['model', bytes('churn')],
      ['repeated', bytes('p')],
    ]);
    expect(apart.table.getChild('model')!.nullCount).toBe(n);
    expect(apart.table.getChild('routed')!.toArray()).toEqual(['a', 'b', 'a', 'b', 'a']);
    expect(apart.table.getChild('nullable')!.nullCount).toBe(1);
    expect(apart.table.getChild('unnamed')!.nullCount).toBe(0);
    expect(apart.table.schema.fields.map((f) => f.name)).toEqual(table.schema.fields.map((f) => f.name));
    // Two chunks of different values under one column: not constant; of the same value: constant.
    const chunks = (a: string, b: string) =>
      new Table({ id: id().slice(0, 2), v: constantColumn(a, 2) }).concat(
        new Table({ id: id().slice(0, 3), v: constantColumn(b, 3) }),
      );
    expect(withConstantsApart(chunks('x', 'y'), ['v']).constants).toEqual([]);
    expect(withConstantsApart(chunks('x', 'x'), ['v']).constants).toEqual([['v', bytes('x')]]);
  });

  it("keeps a value's bytes as they are (a byte-order mark), and leaves values over 64 bytes and the first column alone", () => {
    const bom = '\uFEFF2026-01-01';
    const table = new Table({
      first: constantColumn('k', n),
      bom: constantColumn(bom, n),
      at64: constantColumn('x'.repeat(64), n),
      over64: constantColumn('x'.repeat(65), n),
    });
    const apart = withConstantsApart(table, ['first', 'bom', 'at64', 'over64']);
    expect(apart.constants).toEqual([
      ['bom', Uint8Array.from([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('2026-01-01')])],
      ['at64', bytes('x'.repeat(64))],
    ]);
  });

  it('takes apart a named timestamp with one value on every row, and no other', () => {
    // Another value on a row (differing in the high half only), a null, or seconds (which
    // parquet-rs stores as milliseconds) are not constant.
    const at = 1_764_245_076_278n;
    const varied = new BigInt64Array(n).fill(at);
    varied[3] = at + (1n << 32n);
    const stamps = new Table({
      id: id(),
      constant: timestampColumn(at, n),
      varied: makeVector(makeData({ type: new TimestampMillisecond('UTC'), length: n, data: varied })),
      seconds: timestampColumn(at, n, false, new TimestampSecond()),
      withNull: makeVector(
        makeData({
          type: new TimestampMillisecond(),
          length: n,
          nullCount: 1,
          nullBitmap: Uint8Array.of(0b11101),
          data: new BigInt64Array(n).fill(at),
        }),
      ),
    });
    const apart = withConstantsApart(stamps, ['constant', 'varied', 'seconds', 'withNull']);
    expect(apart.constants).toEqual([['constant', at]]);
    expect(apart.table.getChild('constant')!.nullCount).toBe(n);
    expect(Array.from(apart.table.getChild('varied')!.data[0]!.values as BigInt64Array)).toEqual(Array.from(varied));
    // A slice of a column whose rows differ only outside it is constant.
    const sliced = new Table({
      id: id().slice(0, 3),
      v: makeVector(makeData({ type: new TimestampMillisecond('UTC'), length: n, data: varied })).slice(0, 3),
    });
    expect(withConstantsApart(sliced, ['v']).constants).toEqual([['v', at]]);
    // Another value in the second or the last row, in the lowest or the highest byte; one row alone.
    const stamp = (data: BigInt64Array) =>
      new Table({
        id: id().slice(0, data.length),
        v: makeVector(makeData({ type: new TimestampMillisecond('UTC'), length: data.length, data })),
      });
    for (const row of [1, n - 1])
      for (const delta of [1n, 1n << 56n]) {
        const data = new BigInt64Array(n).fill(at);
        data[row] = at + delta;
        expect(withConstantsApart(stamp(data), ['v']).constants).toEqual([]);
      }
    expect(withConstantsApart(stamp(BigInt64Array.of(at)), ['v']).constants).toEqual([['v', at]]);
  });
});

describe('a part encoded with its metadata columns apart', () => {
  it('reads as the same part encoded whole, every value and statistic, through DuckDB', async () => {
    const rows = 45_000;
    const at = 1_764_245_076_278n;
    const table = new Table({
      customer: vectorFromArray(
        Array.from({ length: rows }, (_, i) => `C${i}`),
        new Utf8(),
      ),
      score: makeVector(Float64Array.from({ length: rows }, (_, i) => ((i * 7919) % 1000) / 1000)),
      model_name: constantColumn('churn', rows),
      model_version: constantColumn('c482783d8c4e', rows),
      partition: constantColumn('\uFEFF2026-01-01', rows),
      run_id: constantColumn('20261127T120436Z-a543bd', rows),
      scored_at: timestampColumn(at, rows),
    });
    const s = scratchDir('constant-part');
    const instance = await DuckDBInstance.create(':memory:');
    const db = await instance.connect();
    const rowsOf = async (sql: string) => (await db.runAndReadAll(sql)).getRowObjectsJson();
    try {
      const whole = path.join(s.dir, 'whole.parquet');
      const apartFile = path.join(s.dir, 'apart.parquet');
      const task = (t: Table, constants: readonly Constant[]) => ({
        ipc: tableToIPC(t, 'stream'),
        codec: 'zstd' as const,
        plainColumns: ['customer', 'score'],
        constants,
      });
      writeFileSync(whole, (await encodePart(task(table, []))).value as Uint8Array);
      const apart = withConstantsApart(table, METADATA_NAMES);
      expect(apart.constants.map(([c]) => c)).toEqual([...METADATA_NAMES]);
      writeFileSync(apartFile, (await encodePart(task(apart.table, apart.constants))).value as Uint8Array);
      const everything = (f: string) =>
        rowsOf(
          `SELECT customer, score, model_name, model_version, hex(encode(partition)) AS partition, run_id, epoch_ms(scored_at) AS at FROM '${f}' ORDER BY customer`,
        );
      const a = await everything(apartFile);
      expect(a).toEqual(await everything(whole));
      expect(a[0]!.partition).toBe('EFBBBF323032362D30312D3031');
      const meta = (f: string) =>
        rowsOf(
          `SELECT path_in_schema, type, num_values, stats_min_value, stats_max_value, stats_null_count, encodings FROM parquet_metadata('${f}') ORDER BY row_group_id, column_id`,
        );
      expect(await meta(apartFile)).toEqual(await meta(whole));
      const schema = (f: string) =>
        rowsOf(`SELECT name, type, repetition_type, logical_type FROM parquet_schema('${f}')`);
      expect(await schema(apartFile)).toEqual(await schema(whole));
    } finally {
      db.closeSync();
      instance.closeSync();
      s.remove();
    }
  });
});
