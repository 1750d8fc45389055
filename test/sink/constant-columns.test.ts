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
import { withConstantsApart } from '../../src/sink/parquet-encoder.js';
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
          const reference = write(new Table({ run_id: columnOf(false) }), codec);
          const placeholder = write(new Table({ run_id: columnOf(true) }), codec);
          const made = spliceConstantColumns(placeholder, new Map([['run_id', bytes]]));
          const want = chunkOf(reference, 0);
          const got = chunkOf(made, 0);
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

  it('are read whole by DuckDB and parquet-wasm beside other columns, over several row groups and long values', async () => {
    const rows = 130_000;
    const long = 'x'.repeat(70_000) + 'ü';
    const ids = BigInt64Array.from({ length: rows }, (_, i) => BigInt(i));
    const scores = Float64Array.from({ length: rows }, (_, i) => i / rows);
    const table = (asNull: boolean) =>
      new Table({
        model_name: constantColumn('churn', rows, asNull),
        id: makeVector(ids),
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
            len: '70001',
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

  it('refuses a placeholder that holds values, or a column that is neither text nor a timestamp', () => {
    const real = write(new Table({ run_id: constantColumn('a', 10) }), 'ZSTD');
    expect(() => spliceConstantColumns(real, new Map([['run_id', valueBytes('a')]]))).toThrow(/not all null/);
    const refused = (column: Vector, value: Uint8Array) =>
      expect(() => spliceConstantColumns(write(new Table({ c: column }), 'ZSTD'), new Map([['c', value]]))).toThrow(
        'constant column c: not an optional text or timestamp column of the part',
      );
    refused(makeVector(new Float64Array(10)), valueBytes('a'));
    // An integer that is not a timestamp: its sort order may be unsigned.
    refused(makeVector(new BigInt64Array(10)), valueBytes(1n));
    refused(timestampColumn(0n, 10, true), valueBytes('not 8 bytes'));
  });
});

describe('withConstantsApart', () => {
  it('takes apart only dictionary text columns with one entry and no nulls, the same in every chunk', () => {
    const n = 5;
    const two = makeVector(
      makeData({
        type: new Dictionary(new Utf8(), new Int8(), nextId++),
        length: n,
        data: Int8Array.of(0, 1, 0, 1, 0),
        dictionary: vectorFromArray(['a', 'b'], new Utf8()),
      }),
    );
    const withNull = makeVector(
      makeData({
        type: new Dictionary(new Utf8(), new Int8(), nextId++),
        length: n,
        nullCount: 1,
        nullBitmap: Uint8Array.of(0b11110),
        data: new Int8Array(n),
        dictionary: vectorFromArray(['a'], new Utf8()),
      }),
    );
    const table = new Table({
      id: vectorFromArray([1n, 2n, 3n, 4n, 5n], new Int64()),
      model: constantColumn('churn', n),
      routed: two,
      nullable: withNull,
      score: vectorFromArray([0.1, 0.2, 0.3, 0.4, 0.5], new Float64()),
    });
    // Two entries of one value, as partition and run_id under combine: route: constant.
    const repeated = makeVector(
      makeData({
        type: new Dictionary(new Utf8(), new Int8(), nextId++),
        length: n,
        data: Int8Array.of(0, 1, 1, 0, 1),
        dictionary: vectorFromArray(['p', 'p'], new Utf8()),
      }),
    );
    expect(withConstantsApart(new Table({ repeated })).constants).toEqual([['repeated', 'p']]);
    // Two chunks of different values under one column: not constant.
    const split = new Table({ v: constantColumn('x', 2) }).concat(new Table({ v: constantColumn('y', 3) }));
    const same = new Table({ v: constantColumn('x', 2) }).concat(new Table({ v: constantColumn('x', 3) }));
    const apart = withConstantsApart(table);
    expect(apart.constants).toEqual([['model', 'churn']]);
    expect(apart.table.getChild('model')!.nullCount).toBe(n);
    expect(apart.table.getChild('routed')!.toArray()).toEqual(['a', 'b', 'a', 'b', 'a']);
    expect(apart.table.getChild('nullable')!.nullCount).toBe(1);
    expect(apart.table.schema.fields.map((f) => f.name)).toEqual(table.schema.fields.map((f) => f.name));
    expect(withConstantsApart(split).constants).toEqual([]);
    // Timestamps: one value on every row is constant; another value on a row, a null, or seconds
    // (which parquet-rs stores as milliseconds) are not.
    const at = 1_764_245_076_278n;
    const varied = new BigInt64Array(n).fill(at);
    varied[3] = at + (1n << 32n);
    const stamps = new Table({
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
    const stampsApart = withConstantsApart(stamps);
    expect(stampsApart.constants).toEqual([['constant', at]]);
    expect(stampsApart.table.getChild('constant')!.nullCount).toBe(n);
    expect(Array.from(stampsApart.table.getChild('varied')!.data[0]!.values as BigInt64Array)).toEqual(
      Array.from(varied),
    );
    expect(withConstantsApart(same).constants).toEqual([['v', 'x']]);
  });
});
