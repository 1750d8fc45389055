import { DataType, type Field } from 'apache-arrow';
import type { ScoredChunk, SinkLayout } from './sink.js';
import { copyFormatter } from './pg-types.js';
import { copyText } from './sql.js';

/** Turns scored chunks into the bytes of one COPY ... FROM STDIN stream. */
export interface CopyEncoder {
  readonly format: 'binary' | 'text';
  /** Bytes before the first row (the binary signature). */
  header(): Buffer;
  encode(chunk: ScoredChunk): Buffer;
  trailer(): Buffer;
}

const PG_EPOCH_MS = 946_684_800_000; // 2000-01-01T00:00:00Z, the zero of Postgres dates and timestamps
const DAY_MS = 86_400_000;

type FieldWriter = (w: Writer, v: unknown) => void;

/** A growable buffer for binary COPY rows. */
class Writer {
  buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
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
}

/** Binary writer for one Arrow column type, or undefined when mlscale writes that type as text. */
function binaryWriter(field: Field): FieldWriter | undefined {
  let t = field.type;
  if (DataType.isDictionary(t)) t = t.dictionary;
  if (DataType.isInt(t)) {
    if (t.bitWidth <= 16 && t.isSigned) return (w, v) => (w.field(2), (w.pos = w.buf.writeInt16BE(v as number, w.pos)));
    if (t.bitWidth <= 16 || (t.bitWidth === 32 && t.isSigned))
      return (w, v) => (w.field(4), (w.pos = w.buf.writeInt32BE(v as number, w.pos)));
    if (t.bitWidth === 32 || (t.bitWidth === 64 && t.isSigned))
      return (w, v) => (w.field(8), (w.pos = w.buf.writeBigInt64BE(BigInt(v as number | bigint), w.pos)));
    return undefined; // uint64 is numeric in Postgres
  }
  if (DataType.isFloat(t)) {
    if (t.precision === 2) return (w, v) => (w.field(8), (w.pos = w.buf.writeDoubleBE(v as number, w.pos)));
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
  if (DataType.isTimestamp(t))
    return (w, v) => (
      w.field(8),
      (w.pos = w.buf.writeBigInt64BE(BigInt(Math.round(((v as number) - PG_EPOCH_MS) * 1000)), w.pos))
    );
  return undefined;
}

function binaryEncoder(layout: SinkLayout): CopyEncoder | undefined {
  const keyWriters = layout.keyFields.map(binaryWriter);
  if (keyWriters.some((w) => !w)) return undefined;
  const fieldCount = layout.keyFields.length + layout.outputs.length + 5;
  // The run metadata is the same on every row: encode it once (per model, for routed rows).
  const encodeMeta = (name: string, version: string) => {
    const meta = new Writer(256);
    for (const s of [name, version, layout.partition, layout.runId]) meta.bytes(Buffer.from(s, 'utf8'));
    meta.field(8);
    meta.pos = meta.buf.writeBigInt64BE(BigInt((layout.scoredAt.getTime() - PG_EPOCH_MS) * 1000), meta.pos);
    return meta.buf.subarray(0, meta.pos);
  };
  const runMeta = encodeMeta(layout.modelName, layout.modelVersion);
  const modelMeta = layout.models.map((m) => encodeMeta(m.name, m.version));
  return {
    format: 'binary',
    header() {
      const h = Buffer.alloc(19);
      h.write('PGCOPY\n\xff\r\n\0', 0, 'latin1');
      return h; // flags and header-extension length are both zero
    },
    encode({ keys, keep, predictions, rows, modelIndex }) {
      const w = new Writer(rows * (runMeta.length + 16 + keys.length * 16 + predictions.length * 12) + 64);
      for (let r = 0; r < rows; r++) {
        const src = keep ? keep[r]! : r;
        w.i16(fieldCount);
        for (let k = 0; k < keys.length; k++) {
          const v = keys[k]!.get(src);
          if (v === null || v === undefined) w.i32(-1);
          else keyWriters[k]!(w, v);
        }
        for (const p of predictions) {
          const values = p.values;
          if (values instanceof Float64Array) {
            w.field(8);
            w.pos = w.buf.writeDoubleBE(values[r]!, w.pos);
          } else if (values instanceof BigInt64Array) {
            w.field(8);
            w.pos = w.buf.writeBigInt64BE(values[r]!, w.pos);
          } else if (values instanceof Uint8Array) {
            w.field(1);
            w.buf[w.pos++] = values[r]!;
          } else w.bytes(Buffer.from(values[r]!, 'utf8'));
        }
        const metaBytes = modelIndex ? modelMeta[modelIndex[r]!]! : runMeta;
        w.ensure(metaBytes.length);
        metaBytes.copy(w.buf, w.pos);
        w.pos += metaBytes.length;
      }
      return w.buf.subarray(0, w.pos);
    },
    trailer: () => Buffer.from([0xff, 0xff]),
  };
}

function textEncoder(layout: SinkLayout): CopyEncoder {
  const keyFormat = layout.keyFields.map(copyFormatter);
  const suffix = (name: string, version: string) =>
    [name, version, layout.partition, layout.runId, layout.scoredAt.toISOString()].map(copyText).join('\t');
  const runSuffix = suffix(layout.modelName, layout.modelVersion);
  const modelSuffix = layout.models.map((m) => suffix(m.name, m.version));
  return {
    format: 'text',
    header: () => Buffer.alloc(0),
    encode({ keys, keep, predictions, rows, modelIndex }) {
      const parts: string[] = new Array(rows);
      for (let r = 0; r < rows; r++) {
        const src = keep ? keep[r]! : r;
        let line = '';
        for (let k = 0; k < keys.length; k++) {
          const v = keys[k]!.get(src);
          line += (v === null || v === undefined ? '\\N' : copyText(keyFormat[k]!(v))) + '\t';
        }
        for (const p of predictions) {
          const values = p.values;
          if (values instanceof Float64Array) line += String(values[r]) + '\t';
          else if (values instanceof BigInt64Array) line += values[r]!.toString() + '\t';
          else if (values instanceof Uint8Array) line += (values[r] ? 't' : 'f') + '\t';
          else line += copyText(values[r]!) + '\t';
        }
        parts[r] = line + (modelIndex ? modelSuffix[modelIndex[r]!]! : runSuffix);
      }
      return Buffer.from(parts.join('\n') + '\n', 'utf8');
    },
    trailer: () => Buffer.alloc(0),
  };
}

/**
 * Binary COPY where every key column has a binary form mlscale writes (Postgres then parses no
 * floats or timestamps, which is most of its COPY cost); text COPY otherwise.
 */
export function copyEncoder(layout: SinkLayout): CopyEncoder {
  return binaryEncoder(layout) ?? textEncoder(layout);
}
