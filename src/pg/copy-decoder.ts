import { RecordBatch, Schema, Field, Struct, makeData, type Bool, type Utf8 } from 'apache-arrow';
import { HEADER_LENGTH, NUMERIC_SIGN, OID, PG_EPOCH_DAYS, PG_EPOCH_US, SIGNATURE } from './binary-format.js';
import { PG_TYPES } from './types.js';

/** Accumulates one column's values for the current batch. */
interface ColumnBuilder {
  readonly field: Field;
  push(buf: Buffer, at: number, len: number): void;
  pushNull(): void;
  finish(): ReturnType<typeof makeData>;
}

class Validity {
  bits = new Uint8Array(1024);
  nulls = 0;
  set(i: number, valid: boolean): void {
    if (i >> 3 >= this.bits.length) {
      const next = new Uint8Array(this.bits.length * 2);
      next.set(this.bits);
      this.bits = next;
    }
    if (valid) this.bits[i >> 3]! |= 1 << (i & 7);
    else this.nulls++;
  }
}

function fixed<T extends Float64Array | Float32Array | Int32Array | Int16Array | BigInt64Array | Uint8Array>(
  field: Field,
  capacity: number,
  Ctor: new (n: number) => T,
  read: (buf: Buffer, at: number, len: number) => number | bigint,
): ColumnBuilder {
  let values = new Ctor(capacity);
  let n = 0;
  let valid = new Validity();
  return {
    field,
    push(buf, at, len) {
      valid.set(n, true);
      (values as unknown as (number | bigint)[])[n++] = read(buf, at, len);
    },
    pushNull() {
      valid.set(n, false);
      n++;
    },
    finish() {
      const data = makeData({
        type: field.type,
        length: n,
        nullCount: valid.nulls,
        nullBitmap: valid.nulls > 0 ? valid.bits.slice(0, (n + 7) >> 3) : null,
        data: values.slice(0, n),
      } as never);
      values = new Ctor(capacity);
      n = 0;
      valid = new Validity();
      return data;
    },
  };
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

/** Arrow booleans are bit-packed, like the validity bitmap. */
function bool(field: Field): ColumnBuilder {
  let values = new Validity();
  let valid = new Validity();
  let n = 0;
  return {
    field,
    push(buf, at) {
      values.set(n, buf[at] !== 0);
      valid.set(n++, true);
    },
    pushNull() {
      values.set(n, false);
      valid.set(n++, false);
    },
    finish() {
      const bytes = (n + 7) >> 3;
      const data = makeData({
        type: field.type as Bool,
        length: n,
        nullCount: valid.nulls,
        nullBitmap: valid.nulls > 0 ? valid.bits.slice(0, bytes) : null,
        data: values.bits.slice(0, bytes),
      });
      values = new Validity();
      valid = new Validity();
      n = 0;
      return data;
    },
  };
}

function text(field: Field, capacity: number): ColumnBuilder {
  let offsets = new Int32Array(capacity + 1);
  let bytes = Buffer.allocUnsafe(capacity * 16);
  let used = 0;
  let n = 0;
  let valid = new Validity();
  return {
    field,
    push(buf, at, len) {
      if (used + len > bytes.length) {
        const next = Buffer.allocUnsafe(Math.max(bytes.length * 2, used + len));
        bytes.copy(next, 0, 0, used);
        bytes = next;
      }
      buf.copy(bytes, used, at, at + len);
      used += len;
      valid.set(n, true);
      offsets[++n] = used;
    },
    pushNull() {
      valid.set(n, false);
      offsets[n + 1] = used;
      n++;
    },
    finish() {
      const data = makeData({
        type: field.type as Utf8,
        length: n,
        nullCount: valid.nulls,
        nullBitmap: valid.nulls > 0 ? valid.bits.slice(0, (n + 7) >> 3) : null,
        valueOffsets: offsets.slice(0, n + 1),
        data: new Uint8Array(bytes.subarray(0, used)),
      });
      offsets = new Int32Array(capacity + 1);
      bytes = Buffer.allocUnsafe(capacity * 16);
      used = 0;
      n = 0;
      valid = new Validity();
      return data;
    },
  };
}

const INT32_MAX = 0x7fffffff;
const INT32_MIN = -0x80000000;
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

function builder(field: Field, oid: number, capacity: number): ColumnBuilder {
  switch (oid) {
    case OID.bool:
      return bool(field);
    case OID.int8:
      return fixed(field, capacity, BigInt64Array, (b, at) => b.readBigInt64BE(at));
    case OID.int2:
      return fixed(field, capacity, Int16Array, (b, at) => b.readInt16BE(at));
    case OID.int4:
      return fixed(field, capacity, Int32Array, (b, at) => b.readInt32BE(at));
    case OID.float4:
      return fixed(field, capacity, Float32Array, (b, at) => b.readFloatBE(at));
    case OID.float8:
      return fixed(field, capacity, Float64Array, (b, at) => b.readDoubleBE(at));
    case OID.numeric:
      return fixed(field, capacity, Float64Array, (b, at) => readNumeric(b, at));
    case OID.date:
      return fixed(field, capacity, Int32Array, (b, at) => {
        const days = b.readInt32BE(at);
        if (days === INT32_MAX || days === INT32_MIN) throw infinite(field);
        return days + PG_EPOCH_DAYS;
      });
    case OID.timestamp:
    case OID.timestamptz:
      return fixed(field, capacity, BigInt64Array, (b, at) => {
        const us = b.readBigInt64BE(at);
        if (us === INT64_MAX || us === INT64_MIN) throw infinite(field);
        return us + PG_EPOCH_US;
      });
    default:
      return text(field, capacity);
  }
}

/**
 * Parses a `COPY ... TO STDOUT (FORMAT binary)` byte stream into Arrow record batches of at most
 * `batchSize` rows, straight into typed arrays: no row objects. Rows may span stream chunks.
 */
export class PgBinaryDecoder {
  readonly schema: Schema;
  private readonly builders: ColumnBuilder[];
  private pending: Buffer = Buffer.alloc(0);
  private headerDone = false;
  private rows = 0;
  private ended = false;

  constructor(
    columns: readonly { name: string; oid: number }[],
    private readonly batchSize: number,
  ) {
    const fields = columns.map((c) => new Field(c.name, PG_TYPES[c.oid]!.arrow(), true));
    this.schema = new Schema(fields);
    this.builders = columns.map((c, i) => builder(fields[i]!, c.oid, batchSize));
  }

  /** Feeds bytes; returns the batches completed by them. */
  push(chunk: Buffer): RecordBatch[] {
    const buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let at = 0;
    const out: RecordBatch[] = [];
    if (!this.headerDone) {
      if (buf.length < HEADER_LENGTH) {
        this.pending = buf;
        return out;
      }
      if (!buf.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw new Error('not a binary COPY stream');
      const headerEnd = HEADER_LENGTH + buf.readInt32BE(HEADER_LENGTH - 4);
      // The header extension may itself be split across chunks: wait for all of it.
      if (buf.length < headerEnd) {
        this.pending = buf;
        return out;
      }
      at = headerEnd;
      this.headerDone = true;
    }
    const ncols = this.builders.length;
    for (;;) {
      if (buf.length - at < 2) break;
      const count = buf.readInt16BE(at);
      if (count === -1) {
        this.ended = true;
        at += 2;
        break;
      }
      // Check the whole row is here before consuming it.
      let p = at + 2;
      let complete = true;
      for (let c = 0; c < count; c++) {
        if (buf.length - p < 4) {
          complete = false;
          break;
        }
        const len = buf.readInt32BE(p);
        p += 4 + (len > 0 ? len : 0);
        if (p > buf.length) {
          complete = false;
          break;
        }
      }
      if (!complete) break;
      if (count !== ncols) throw new Error(`binary COPY row has ${count} fields, expected ${ncols}`);
      p = at + 2;
      for (let c = 0; c < ncols; c++) {
        const len = buf.readInt32BE(p);
        p += 4;
        if (len < 0) this.builders[c]!.pushNull();
        else {
          this.builders[c]!.push(buf, p, len);
          p += len;
        }
      }
      at = p;
      if (++this.rows === this.batchSize) out.push(this.flush());
    }
    this.pending = at < buf.length ? Buffer.from(buf.subarray(at)) : Buffer.alloc(0);
    return out;
  }

  /** The last, partial batch, once the stream has ended. */
  end(): RecordBatch | undefined {
    if (!this.ended && (this.headerDone || this.pending.length > 0))
      throw new Error('binary COPY stream ended without its trailer');
    return this.rows > 0 ? this.flush() : undefined;
  }

  private flush(): RecordBatch {
    const children = this.builders.map((b) => b.finish());
    const n = this.rows;
    this.rows = 0;
    const data = makeData({ type: new Struct(this.schema.fields), length: n, nullCount: 0, children });
    return new RecordBatch(this.schema, data);
  }
}
