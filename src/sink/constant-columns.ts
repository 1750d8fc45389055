import { gzipSync } from 'node:zlib';
import { varintBytes } from '../varint.js';
import { T, field, readStruct, struct, writeStruct, type TList, type TStruct, type TValue } from './thrift-compact.js';

/**
 * Column chunks for columns that hold one value on every row (a part's model_name,
 * model_version, partition, run_id and scored_at), written here instead of by parquet-wasm.
 *
 * parquet-wasm (parquet-rs) hashes every row into the column's dictionary and compares every
 * row for its min/max statistics: about 33 ms of each 262,144-row part per text column, 8 ms
 * for the timestamp, four times what the part's keys and predictions take together (README,
 * Performance). The part is encoded with those columns all null instead (under a millisecond
 * each), and each such chunk is then replaced by the one parquet-rs would have written for the
 * value from one Arrow batch: the same pages (a one-entry PLAIN dictionary page,
 * dictionary-index data pages of 20,000 rows), statistics, page index and size statistics
 * (test/sink/constant-columns.test.ts compares the two, field by field and byte by byte).
 * parquet-rs also ends a page where a batch ends, so for a part of several batches it would cut
 * the pages elsewhere, with the same values and statistics. The placeholder's few hundred bytes
 * stay in the file, referenced by nothing.
 */

/** Parquet's enums, as parquet.thrift numbers them. */
const PAGE = { DATA: 0, DICTIONARY: 2 } as const;
const ENCODING = { PLAIN: 0, RLE: 3, RLE_DICTIONARY: 8 } as const;
const CODEC = { UNCOMPRESSED: 0, SNAPPY: 1, GZIP: 2, ZSTD: 6, LZ4_RAW: 7 } as const;
const INT64 = 2;
const BYTE_ARRAY = 6;
const OPTIONAL = 1;
const BOUNDARY_ASCENDING = 1;
/**
 * parquet-rs cuts a text statistic longer than this to a prefix (and the max to one past it): a
 * longer value is left to parquet-rs rather than made here.
 */
export const MAX_TEXT_BYTES = 64;
/** parquet-rs's default data_page_row_count_limit. */
export const ROWS_PER_PAGE = 20_000;

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A page body in the chunk's codec, stored rather than compressed (a page here is tens of bytes,
 * or one value of at most 64): each format's literal or raw form, which its decoder reads as any
 * other. parquet-rs's compressors store these too, except a value that repeats itself (its
 * dictionary page, compressed there, is a few bytes longer here).
 */
function stored(codec: number, body: Uint8Array): Uint8Array {
  switch (codec) {
    case CODEC.UNCOMPRESSED:
      return body;
    case CODEC.GZIP:
      return gzipSync(body);
    case CODEC.SNAPPY: {
      // The uncompressed length, then literals of at most 2^16 bytes (tag 60: a 1-byte length, 61: 2 bytes).
      const parts: Uint8Array[] = [new Uint8Array(varintBytes(body.length))];
      for (let at = 0; at < body.length; at += 65_536) {
        const piece = body.subarray(at, at + 65_536);
        const n = piece.length - 1;
        parts.push(new Uint8Array(n < 60 ? [n << 2] : n < 256 ? [60 << 2, n] : [61 << 2, n & 0xff, n >> 8]), piece);
      }
      return concat(parts);
    }
    case CODEC.LZ4_RAW: {
      // One sequence of literals and no match: the token's high nibble, then 255s and the rest.
      const n = body.length;
      const head = [Math.min(n, 15) << 4];
      if (n >= 15) {
        let rest = n - 15;
        while (rest >= 255) {
          head.push(255);
          rest -= 255;
        }
        head.push(rest);
      }
      return concat([new Uint8Array(head), body]);
    }
    case CODEC.ZSTD: {
      // A single-segment frame with its content size and raw blocks of at most 128 KiB.
      const n = body.length;
      const size = n < 256 ? [0x20, n] : n < 65_792 ? [0x60, (n - 256) & 0xff, (n - 256) >> 8] : [0xa0, ...u32(n)];
      const parts: Uint8Array[] = [new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, ...size])];
      let at = 0;
      do {
        const piece = body.subarray(at, at + 131_072);
        at += piece.length;
        const head = (piece.length << 3) | (at >= n ? 1 : 0);
        parts.push(new Uint8Array([head & 0xff, (head >> 8) & 0xff, (head >> 16) & 0xff]), piece);
      } while (at < n);
      return concat(parts);
    }
    default:
      throw new Error(`constant column: codec ${codec} is not one mlscale writes`);
  }
}

interface Page {
  readonly bytes: Uint8Array;
  readonly uncompressed: number;
  readonly rows: number;
}

function page(type: number, body: Uint8Array, codec: number, header: [number, TStruct], rows: number): Page {
  const compressed = stored(codec, body);
  const head = writeStruct(
    struct([1, T.I32, type], [2, T.I32, body.length], [3, T.I32, compressed.length], [header[0], T.STRUCT, header[1]]),
  );
  return { bytes: concat([head, compressed]), uncompressed: head.length + body.length, rows };
}

/** The data page of `rows` rows, all defined (level 1) and all dictionary index 0 (bit width 0). */
function dataPage(rows: number, codec: number): Page {
  const run = varintBytes(rows * 2);
  const levels = [...run, 1];
  const body = new Uint8Array([...u32(levels.length), ...levels, 0, ...run]);
  const header = struct(
    [1, T.I32, rows],
    [2, T.I32, ENCODING.RLE_DICTIONARY],
    [3, T.I32, ENCODING.RLE],
    [4, T.I32, ENCODING.RLE],
  );
  return page(PAGE.DATA, body, codec, [5, header], rows);
}

const i64 = (n: number | bigint) => BigInt(n);
const list = (elemType: number, items: TValue[]): TList => ({ elemType, items });

interface Chunk {
  readonly bytes: Uint8Array;
  /** ColumnMetaData, for the chunk placed at file offset `at`. */
  readonly meta: (at: number) => TStruct;
  readonly columnIndex: TStruct;
  /** OffsetIndex, for the chunk placed at file offset `at`. */
  readonly offsetIndex: (at: number) => TStruct;
  readonly uncompressed: number;
}

/**
 * The column chunk parquet-rs writes for `rows` rows of `value` (BYTE_ARRAY: its bytes; INT64: 8
 * bytes, little-endian), with the placeholder's path and codec.
 */
function constantChunk(value: Uint8Array, type: number, rows: number, path: TList, codec: number): Chunk {
  const text = type === BYTE_ARRAY;
  const dictionary = page(
    PAGE.DICTIONARY,
    text ? concat([u32(value.length), value]) : value,
    codec,
    [7, struct([1, T.I32, 1], [2, T.I32, ENCODING.PLAIN], [3, T.FALSE, false])],
    0,
  );
  const data: Page[] = [];
  for (let left = rows; left > 0; left -= ROWS_PER_PAGE) data.push(dataPage(Math.min(left, ROWS_PER_PAGE), codec));
  const pages = [dictionary, ...data];
  const bytes = concat(pages.map((p) => p.bytes));
  const uncompressed = pages.reduce((n, p) => n + p.uncompressed, 0);
  const starts: number[] = [];
  let at = 0;
  for (const p of pages) {
    starts.push(at);
    at += p.bytes.length;
  }
  const meta = (offset: number) =>
    struct(
      [1, T.I32, type],
      [2, T.LIST, list(T.I32, [ENCODING.PLAIN, ENCODING.RLE, ENCODING.RLE_DICTIONARY])],
      [3, T.LIST, path],
      [4, T.I32, codec],
      [5, T.I64, i64(rows)],
      [6, T.I64, i64(uncompressed)],
      [7, T.I64, i64(bytes.length)],
      [9, T.I64, i64(offset + starts[1]!)],
      [11, T.I64, i64(offset)],
      [
        12,
        T.STRUCT,
        // A number's sort order is its signed one, and parquet-rs writes the deprecated max and min too.
        struct(
          [1, T.BINARY, text ? undefined : value],
          [2, T.BINARY, text ? undefined : value],
          [3, T.I64, 0n],
          [5, T.BINARY, value],
          [6, T.BINARY, value],
          [7, T.TRUE, true],
          [8, T.TRUE, true],
        ),
      ],
      [
        13,
        T.LIST,
        list(T.STRUCT, [
          struct([1, T.I32, PAGE.DATA], [2, T.I32, ENCODING.RLE_DICTIONARY], [3, T.I32, data.length]),
          struct([1, T.I32, PAGE.DICTIONARY], [2, T.I32, ENCODING.PLAIN], [3, T.I32, 1]),
        ]),
      ],
      [
        16,
        T.STRUCT,
        struct([1, T.I64, text ? i64(value.length) * i64(rows) : undefined], [3, T.LIST, list(T.I64, [0n, i64(rows)])]),
      ],
    );
  const columnIndex = struct(
    [
      1,
      T.LIST,
      list(
        T.FALSE,
        data.map(() => false),
      ),
    ],
    [
      2,
      T.LIST,
      list(
        T.BINARY,
        data.map(() => value),
      ),
    ],
    [
      3,
      T.LIST,
      list(
        T.BINARY,
        data.map(() => value),
      ),
    ],
    [4, T.I32, BOUNDARY_ASCENDING],
    [
      5,
      T.LIST,
      list(
        T.I64,
        data.map(() => 0n),
      ),
    ],
    [
      7,
      T.LIST,
      list(
        T.I64,
        data.flatMap((p) => [0n, i64(p.rows)]),
      ),
    ],
  );
  const offsetIndex = (offset: number) => {
    let row = 0;
    const locations = data.map((p, i) => {
      const location = struct(
        [1, T.I64, i64(offset + starts[i + 1]!)],
        [2, T.I32, p.bytes.length],
        [3, T.I64, i64(row)],
      );
      row += p.rows;
      return location;
    });
    return struct(
      [1, T.LIST, list(T.STRUCT, locations)],
      [
        2,
        T.LIST,
        text
          ? list(
              T.I64,
              data.map((p) => i64(value.length) * i64(p.rows)),
            )
          : undefined,
      ],
    );
  };
  return { bytes, meta, columnIndex, offsetIndex, uncompressed };
}

const MAGIC = new TextEncoder().encode('PAR1');

/** The FileMetaData of a Parquet file, and where the footer starts. */
export function readFooter(file: Uint8Array): { footer: TStruct; start: number } {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const length = view.getUint32(file.length - 8, true);
  const start = file.length - 8 - length;
  return { footer: readStruct(file, start).struct, start };
}

/**
 * The schema's top-level elements by name: the schema is a depth-first list, each group followed
 * by its children (num_children, field 5), so a key struct's child never stands for a column.
 */
function topLevel(schema: TStruct[]): Map<string, TStruct> {
  const out = new Map<string, TStruct>();
  const skip = (at: number): number => {
    const n = field<number>(schema[at]!, 5) ?? 0;
    let next = at + 1;
    for (let i = 0; i < n; i++) next = skip(next);
    return next;
  };
  const count = field<number>(schema[0]!, 5) ?? 0;
  let at = 1;
  for (let i = 0; i < count && at < schema.length; i++) {
    out.set(new TextDecoder().decode(field<Uint8Array>(schema[at]!, 4)), schema[at]!);
    at = skip(at);
  }
  return out;
}

function set(s: TStruct, id: number, type: number, value: TValue): void {
  const f = s.fields.find((x) => x.id === id);
  if (f) f.value = value;
  else {
    s.fields.push({ id, type, value });
    s.fields.sort((a, b) => a.id - b.id);
  }
}

/** A constant column's value as its chunk stores it: text as its bytes, a timestamp as 8 bytes. */
export function valueBytes(value: Uint8Array | string | bigint): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return new TextEncoder().encode(value);
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, value, true);
  return b;
}

/**
 * `file` with the chunks of the named top-level columns, written all null, replaced by chunks of
 * their constant value. A column that is not an optional text (BYTE_ARRAY) or timestamp (INT64)
 * leaf, or whose chunk holds a value, is an error: what the placeholder was is checked, never
 * assumed.
 */
export function spliceConstantColumns(file: Uint8Array, constants: ReadonlyMap<string, Uint8Array>): Uint8Array {
  if (constants.size === 0) return file;
  const { footer, start } = readFooter(file);
  const columns = topLevel(field<TList>(footer, 2)!.items as TStruct[]);
  const types = new Map<string, number>();
  for (const [name, value] of constants) {
    const element = columns.get(name);
    const type = element && field<number>(element, 1);
    // A timestamp's logical type (field 10, TIMESTAMP = 8): its order is the signed one.
    const timestamp = type === INT64 && field(field<TStruct>(element!, 10) ?? { fields: [] }, 8) !== undefined;
    const ok = (type === BYTE_ARRAY && value.length <= MAX_TEXT_BYTES) || (timestamp && value.length === 8);
    if (!ok || field(element!, 3) !== OPTIONAL)
      throw new Error(
        `constant column ${name}: not an optional text (of at most ${MAX_TEXT_BYTES} bytes) or timestamp column of the part`,
      );
    types.set(name, type!);
  }
  const appended: Uint8Array[] = [];
  let end = start;
  const append = (b: Uint8Array) => {
    appended.push(b);
    const at = end;
    end += b.length;
    return at;
  };
  const indexes: { chunk: TStruct; columnIndex: TStruct; offsetIndex: (at: number) => TStruct; at: number }[] = [];
  for (const rowGroup of field<TList>(footer, 4)!.items as TStruct[]) {
    const rows = Number(field<bigint>(rowGroup, 3));
    const columns = field<TList>(rowGroup, 1)!.items as TStruct[];
    let byteSize = Number(field<bigint>(rowGroup, 2));
    let compressedSize = Number(field<bigint>(rowGroup, 6));
    columns.forEach((chunk, c) => {
      const meta = field<TStruct>(chunk, 3)!;
      const path = field<TList>(meta, 3)!;
      if (path.items.length !== 1) return;
      const name = new TextDecoder().decode(path.items[0] as Uint8Array);
      const value = constants.get(name);
      if (!value) return;
      // A row group is placed by its first column's offset (readers that split files by row group).
      if (c === 0)
        throw new Error(`constant column ${name}: the part's first column stays where parquet-wasm wrote it`);
      const nulls = field<bigint>(field<TStruct>(meta, 12) ?? { fields: [] }, 3);
      if (nulls !== BigInt(rows)) throw new Error(`constant column ${name}: its placeholder chunk is not all null`);
      // An empty row group's placeholder is already the column's chunk.
      if (rows === 0) return;
      const made = constantChunk(value, types.get(name)!, rows, path, field<number>(meta, 4)!);
      const at = append(made.bytes);
      byteSize += made.uncompressed - Number(field<bigint>(meta, 6));
      compressedSize += made.bytes.length - Number(field<bigint>(meta, 7));
      set(chunk, 3, T.STRUCT, made.meta(at));
      indexes.push({ chunk, columnIndex: made.columnIndex, offsetIndex: made.offsetIndex, at });
    });
    set(rowGroup, 2, T.I64, i64(byteSize));
    if (field(rowGroup, 6) !== undefined) set(rowGroup, 6, T.I64, i64(compressedSize));
  }
  // As parquet-rs lays them out: every column index, then every offset index.
  for (const x of indexes) {
    const bytes = writeStruct(x.columnIndex);
    set(x.chunk, 6, T.I64, i64(append(bytes)));
    set(x.chunk, 7, T.I32, bytes.length);
  }
  for (const x of indexes) {
    const bytes = writeStruct(x.offsetIndex(x.at));
    set(x.chunk, 4, T.I64, i64(append(bytes)));
    set(x.chunk, 5, T.I32, bytes.length);
  }
  const meta = writeStruct(footer);
  return concat([file.subarray(0, start), ...appended, meta, u32(meta.length), MAGIC]);
}
