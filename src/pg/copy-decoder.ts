import { RecordBatch, Schema, Field, Struct, makeData, type Bool, type Utf8 } from 'apache-arrow';
import { HEADER_LENGTH, NUMERIC_SIGN, OID, PG_EPOCH_DAYS, PG_EPOCH_US, SIGNATURE } from './binary-format.js';
import { PG_TYPES } from './types.js';

// Column kinds, as small integers so the per-value switch stays a jump table.
const BOOL = 0;
const INT8 = 1;
const INT2 = 2;
const INT4 = 3;
const FLOAT4 = 4;
const FLOAT8 = 5;
const NUMERIC = 6;
const DATE = 7;
const TIMESTAMP = 8;
const TEXT = 9;

/** Bytes of each fixed-width kind's value; -1: variable. */
const WIDTH: readonly number[] = [1, 8, 2, 4, 4, 8, -1, 4, 8, -1];

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const INT32_MAX = 0x7fffffff;
const INT32_MIN = -0x80000000;
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

function kindOf(oid: number): number {
  switch (oid) {
    case OID.bool:
      return BOOL;
    case OID.int8:
      return INT8;
    case OID.int2:
      return INT2;
    case OID.int4:
      return INT4;
    case OID.float4:
      return FLOAT4;
    case OID.float8:
      return FLOAT8;
    case OID.numeric:
      return NUMERIC;
    case OID.date:
      return DATE;
    case OID.timestamp:
    case OID.timestamptz:
      return TIMESTAMP;
    default:
      return TEXT;
  }
}

const EMPTY_F64 = new Float64Array(0);
const EMPTY_F32 = new Float32Array(0);
const EMPTY_I32 = new Int32Array(0);
const EMPTY_I16 = new Int16Array(0);
const EMPTY_I64 = new BigInt64Array(0);
const EMPTY_U8 = new Uint8Array(0);

/**
 * One column's values for the current batch. Every column has every field (unused ones empty),
 * so the decode loop sees one object shape and V8 keeps its property loads monomorphic.
 */
class Column {
  valid: Uint8Array = EMPTY_U8;
  nulls = 0;
  f64: Float64Array = EMPTY_F64;
  f32: Float32Array = EMPTY_F32;
  i32: Int32Array = EMPTY_I32;
  i16: Int16Array = EMPTY_I16;
  i64: BigInt64Array = EMPTY_I64;
  /** Bit-packed booleans. */
  bits: Uint8Array = EMPTY_U8;
  offsets: Int32Array = EMPTY_I32;
  bytes: Buffer = Buffer.alloc(0);
  used = 0;

  constructor(
    readonly field: Field,
    readonly kind: number,
    private readonly capacity: number,
  ) {
    this.reset();
  }

  reset(): void {
    const n = this.capacity;
    // All valid until a NULL clears its bit: most columns have none, and then no bitmap is kept.
    this.valid = new Uint8Array((n + 7) >> 3).fill(0xff);
    this.nulls = 0;
    switch (this.kind) {
      case BOOL:
        this.bits = new Uint8Array((n + 7) >> 3);
        break;
      case INT8:
        this.i64 = new BigInt64Array(n);
        // The same memory as int32 pairs: a bigint is copied as two words, no BigInt made per value.
        this.i32 = new Int32Array(this.i64.buffer);
        break;
      case INT2:
        this.i16 = new Int16Array(n);
        break;
      case INT4:
      case DATE:
        this.i32 = new Int32Array(n);
        break;
      case FLOAT4:
        this.f32 = new Float32Array(n);
        break;
      case FLOAT8:
      case NUMERIC:
        this.f64 = new Float64Array(n);
        break;
      case TIMESTAMP:
        this.i64 = new BigInt64Array(n);
        break;
      default:
        this.offsets = new Int32Array(n + 1);
        this.bytes = Buffer.allocUnsafe(Math.max(64, n * 16));
        this.used = 0;
    }
  }

  setNull(row: number): void {
    this.valid[row >> 3]! &= ~(1 << (row & 7));
    this.nulls++;
    if (this.kind === TEXT) this.offsets[row + 1] = this.used;
  }

  pushText(buf: Buffer, at: number, len: number, row: number): void {
    if (this.used + len > this.bytes.length) {
      const next = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.used + len));
      this.bytes.copy(next, 0, 0, this.used);
      this.bytes = next;
    }
    buf.copy(this.bytes, this.used, at, at + len);
    this.used += len;
    this.offsets[row + 1] = this.used;
  }

  /** Hands this batch's arrays to Arrow (no copy) and starts fresh ones. */
  finish(n: number): ReturnType<typeof makeData> {
    const nullBitmap = this.nulls > 0 ? this.valid.subarray(0, (n + 7) >> 3) : null;
    const type = this.field.type;
    let data: ReturnType<typeof makeData>;
    switch (this.kind) {
      case BOOL:
        data = makeData({
          type: type as Bool,
          length: n,
          nullCount: this.nulls,
          nullBitmap,
          data: this.bits.subarray(0, (n + 7) >> 3),
        });
        break;
      case TEXT:
        data = makeData({
          type: type as Utf8,
          length: n,
          nullCount: this.nulls,
          nullBitmap,
          valueOffsets: this.offsets.subarray(0, n + 1),
          data: new Uint8Array(this.bytes.buffer, this.bytes.byteOffset, this.used),
        });
        break;
      default: {
        const values =
          this.kind === INT8 || this.kind === TIMESTAMP
            ? this.i64
            : this.kind === INT2
              ? this.i16
              : this.kind === INT4 || this.kind === DATE
                ? this.i32
                : this.kind === FLOAT4
                  ? this.f32
                  : this.f64;
        data = makeData({ type, length: n, nullCount: this.nulls, nullBitmap, data: values.subarray(0, n) } as never);
      }
    }
    this.reset();
    return data;
  }
}

/**
 * A binary numeric as the nearest double, as Postgres's own n::float8 gives it: the base-10000
 * digits become a decimal string that parseFloat rounds correctly (summing digit × 10000^k
 * does not: 0.03 would come out as 0.030000000000000002).
 */
function readNumeric(buf: Buffer, at: number): number {
  const ndigits = buf.readInt16BE(at);
  const weight = buf.readInt16BE(at + 2);
  const sign = buf.readUInt16BE(at + 4);
  if (sign === NUMERIC_SIGN.nan) return NaN;
  if (sign === NUMERIC_SIGN.pinf) return Infinity;
  if (sign === NUMERIC_SIGN.ninf) return -Infinity;
  if (ndigits === 0) return 0;
  let digits = '';
  for (let i = 0; i < ndigits; i++) digits += String(buf.readInt16BE(at + 8 + i * 2)).padStart(4, '0');
  const v = Number.parseFloat(`${digits}e${(weight - ndigits + 1) * 4}`);
  return sign === NUMERIC_SIGN.negative ? -v : v;
}

/** Postgres's 'infinity' and '-infinity' dates and timestamps have no Arrow value: refuse them by name. */
function infinite(field: Field): Error {
  return new Error(
    `column "${field.name}" holds 'infinity' or '-infinity', which has no date or timestamp value in Arrow; filter those rows out or map them to NULL in the query`,
  );
}

/**
 * Parses a `COPY ... TO STDOUT (FORMAT binary)` byte stream into Arrow record batches of at most
 * `batchSize` rows, straight into typed arrays: no row objects, no BigInt per bigint value, one
 * pass over each row when the row cannot be cut short by the end of the bytes at hand.
 */
const EMPTY = Buffer.alloc(0);

export class PgBinaryDecoder {
  readonly schema: Schema;
  private readonly columns: Column[];
  /** The most bytes a row can take when every column is fixed-width; -1 otherwise. */
  private readonly maxRowBytes: number;
  private pending: Buffer = EMPTY;
  private headerDone = false;
  private rows = 0;
  private ended = false;

  constructor(
    columns: readonly { name: string; oid: number }[],
    private readonly batchSize: number,
  ) {
    const fields = columns.map((c) => new Field(c.name, PG_TYPES[c.oid]!.arrow(), true));
    this.schema = new Schema(fields);
    this.columns = columns.map((c, i) => new Column(fields[i]!, kindOf(c.oid), batchSize));
    const widths = this.columns.map((c) => WIDTH[c.kind]!);
    this.maxRowBytes = widths.some((w) => w < 0) ? -1 : widths.reduce((n, w) => n + 4 + w, 2);
  }

  /**
   * Feeds bytes; returns the batches completed by them. A row split across two network chunks is
   * decoded from its start joined with only as much of the next chunk as it needs: joining whole
   * chunks copied (and left to the garbage collector) every byte of the stream once more.
   */
  push(chunk: Buffer): RecordBatch[] {
    const out: RecordBatch[] = [];
    let rest = chunk;
    while (this.pending.length > 0 && rest.length > 0) {
      const start = this.pending;
      const take = Math.min(rest.length, Math.max(4096, 2 * start.length));
      const head = Buffer.concat([start, rest.subarray(0, take)]);
      const at = this.decode(head, out);
      if (at >= start.length) {
        this.pending = EMPTY;
        rest = rest.subarray(at - start.length);
      } else {
        // Still not one whole row (or header): keep all of it, and take more of the chunk.
        this.pending = Buffer.from(head.subarray(at));
        rest = rest.subarray(take);
      }
    }
    if (rest.length > 0) {
      const at = this.decode(rest, out);
      this.pending = at < rest.length ? Buffer.from(rest.subarray(at)) : EMPTY;
    }
    return out;
  }

  /** Decodes the header (once) and every whole row at the start of `buf`; returns the bytes it used. */
  private decode(buf: Buffer, out: RecordBatch[]): number {
    const end = buf.length;
    // Nothing follows the trailer in a COPY stream; whatever did is not rows.
    if (this.ended) return end;
    let at = 0;
    if (!this.headerDone) {
      if (end < HEADER_LENGTH) return 0;
      if (!buf.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw new Error('not a binary COPY stream');
      const headerEnd = HEADER_LENGTH + buf.readInt32BE(HEADER_LENGTH - 4);
      // The header extension may itself be split across chunks: wait for all of it.
      if (end < headerEnd) return 0;
      at = headerEnd;
      this.headerDone = true;
    }
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const cols = this.columns;
    const ncols = cols.length;
    const maxRow = this.maxRowBytes;
    for (;;) {
      if (end - at < 2) break;
      const count = dv.getInt16(at);
      if (count === -1) {
        this.ended = true;
        at += 2;
        break;
      }
      // Far from the end of the bytes, a fixed-width row is surely whole; near it, walk the lengths first.
      if ((maxRow < 0 || count !== ncols || end - at < maxRow) && !whole(dv, at, end, count)) break;
      if (count !== ncols) throw new Error(`binary COPY row has ${count} fields, expected ${ncols}`);
      const row = this.rows;
      let p = at + 2;
      for (let c = 0; c < ncols; c++) {
        const len = dv.getInt32(p);
        p += 4;
        const col = cols[c]!;
        if (len < 0) {
          col.setNull(row);
          continue;
        }
        const kind = col.kind;
        if (len !== WIDTH[kind] && kind !== NUMERIC && kind !== TEXT)
          throw new Error(`binary COPY field of column "${col.field.name}" has ${len} bytes, expected ${WIDTH[kind]}`);
        switch (kind) {
          case FLOAT4:
            col.f32[row] = dv.getFloat32(p);
            break;
          case FLOAT8:
            col.f64[row] = dv.getFloat64(p);
            break;
          case INT8:
            if (LITTLE_ENDIAN) {
              col.i32[2 * row] = dv.getInt32(p + 4);
              col.i32[2 * row + 1] = dv.getInt32(p);
            } else col.i64[row] = dv.getBigInt64(p);
            break;
          case INT4:
            col.i32[row] = dv.getInt32(p);
            break;
          case INT2:
            col.i16[row] = dv.getInt16(p);
            break;
          case BOOL:
            if (buf[p] !== 0) col.bits[row >> 3]! |= 1 << (row & 7);
            break;
          case NUMERIC:
            col.f64[row] = readNumeric(buf, p);
            break;
          case DATE: {
            const days = dv.getInt32(p);
            if (days === INT32_MAX || days === INT32_MIN) throw infinite(col.field);
            col.i32[row] = days + PG_EPOCH_DAYS;
            break;
          }
          case TIMESTAMP: {
            const us = dv.getBigInt64(p);
            if (us === INT64_MAX || us === INT64_MIN) throw infinite(col.field);
            col.i64[row] = us + PG_EPOCH_US;
            break;
          }
          default:
            col.pushText(buf, p, len, row);
        }
        p += len;
      }
      at = p;
      if (++this.rows === this.batchSize) out.push(this.flush());
    }
    return at;
  }

  /** The last, partial batch, once the stream has ended. */
  end(): RecordBatch | undefined {
    if (!this.ended && (this.headerDone || this.pending.length > 0))
      throw new Error('binary COPY stream ended without its trailer');
    return this.rows > 0 ? this.flush() : undefined;
  }

  private flush(): RecordBatch {
    const n = this.rows;
    const children = this.columns.map((c) => c.finish(n));
    this.rows = 0;
    const data = makeData({ type: new Struct(this.schema.fields), length: n, nullCount: 0, children });
    return new RecordBatch(this.schema, data);
  }
}

/** Whether the row at `at` (of `count` fields) lies wholly before `end`. */
function whole(dv: DataView, at: number, end: number, count: number): boolean {
  let p = at + 2;
  for (let c = 0; c < count; c++) {
    if (end - p < 4) return false;
    const len = dv.getInt32(p);
    p += 4 + (len > 0 ? len : 0);
    if (p > end) return false;
  }
  return true;
}
