import { DataType, type Field } from 'apache-arrow';
import { DAY_MS, NULL_LENGTH, PG_EPOCH_MS, PG_EPOCH_US } from './binary-format.js';
import { valueType } from './types.js';

/** Writes one non-null value of a column as a binary COPY field. */
export type FieldWriter = (w: Writer, v: unknown) => void;

/** A growable buffer for binary COPY rows. */
export class Writer {
  buf: Buffer;
  /**
   * The same bytes, for 8-byte numbers: DataView's setters are V8 builtins, where Buffer's
   * writeBigInt64BE splits the BigInt with BigInt arithmetic (a fifth of a 1M-row COPY's encoding).
   */
  private dv: DataView;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.dv = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }
  /** An int8 (bigint) field. */
  i64Field(v: bigint): void {
    this.field(8);
    this.dv.setBigInt64(this.pos, v);
    this.pos += 8;
  }
  /** A float8 field. */
  f64Field(v: number): void {
    this.field(8);
    this.dv.setFloat64(this.pos, v);
    this.pos += 8;
  }
  i16(v: number): void {
    this.ensure(2);
    this.pos = this.buf.writeInt16BE(v, this.pos);
  }
  i32(v: number): void {
    this.ensure(4);
    this.pos = this.buf.writeInt32BE(v, this.pos);
  }
  field(len: number): void {
    this.ensure(4 + len);
    this.pos = this.buf.writeInt32BE(len, this.pos);
  }
  bytes(b: Uint8Array): void {
    this.field(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  null(): void {
    this.i32(NULL_LENGTH);
  }
  /** A timestamp or timestamptz field from Unix milliseconds. */
  timestamp(ms: number): void {
    this.i64Field(BigInt(Math.round((ms - PG_EPOCH_MS) * 1000)));
  }
  /** A timestamp or timestamptz field from Unix microseconds. */
  timestampMicros(us: bigint): void {
    this.i64Field(us - PG_EPOCH_US);
  }
  /** The bytes written so far (a view, valid until the next write). */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** Binary writer for one Arrow column type, or undefined when mlscale writes that type as text. */
export function binaryWriter(field: Field): FieldWriter | undefined {
  const t = valueType(field);
  if (DataType.isInt(t)) {
    if (t.bitWidth <= 16 && t.isSigned) return (w, v) => (w.field(2), (w.pos = w.buf.writeInt16BE(v as number, w.pos)));
    if (t.bitWidth <= 16 || (t.bitWidth === 32 && t.isSigned))
      return (w, v) => (w.field(4), (w.pos = w.buf.writeInt32BE(v as number, w.pos)));
    if (t.bitWidth === 32 || (t.bitWidth === 64 && t.isSigned))
      return (w, v) => w.i64Field(BigInt(v as number | bigint));
    return undefined; // uint64 is numeric in Postgres
  }
  if (DataType.isFloat(t)) {
    if (t.precision === 2) return (w, v) => w.f64Field(v as number);
    if (t.precision === 1) return (w, v) => (w.field(4), (w.pos = w.buf.writeFloatBE(v as number, w.pos)));
    return undefined;
  }
  if (DataType.isBool(t)) return (w, v) => (w.field(1), (w.buf[w.pos++] = v ? 1 : 0));
  if (DataType.isUtf8(t) || DataType.isLargeUtf8(t)) return (w, v) => w.bytes(Buffer.from(v as string, 'utf8'));
  if (DataType.isBinary(t) || DataType.isLargeBinary(t)) return (w, v) => w.bytes(v as Uint8Array);
  if (DataType.isDate(t))
    return (w, v) => (
      w.field(4),
      (w.pos = w.buf.writeInt32BE(Math.floor(((v as number) - PG_EPOCH_MS) / DAY_MS), w.pos))
    );
  if (DataType.isTimestamp(t)) return (w, v) => w.timestamp(v as number);
  return undefined;
}
