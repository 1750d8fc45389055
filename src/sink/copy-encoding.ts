import { DataType, type Field, type Timestamp, type Vector } from 'apache-arrow';
import { copyHeader, TRAILER } from '../pg/binary-format.js';
import { exactMicros, microsText } from '../pg/exact-timestamp.js';
import { binaryWriter, Writer } from '../pg/copy-encoder.js';
import { copyText } from '../pg/sql.js';
import { copyFormatter } from '../pg/types.js';
import { metadataRows, rowMetadata, rowMetadataColumns, type MetadataValues } from './run-metadata.js';
import type { ScoredChunk, SinkLayout } from './sink.js';

/** Turns scored chunks into the bytes of one COPY ... FROM STDIN stream. */
export interface CopyEncoder {
  readonly format: 'binary' | 'text';
  /** Bytes before the first row (the binary signature). */
  header(): Buffer;
  encode(chunk: ScoredChunk): Buffer;
  trailer(): Buffer;
}

/**
 * A bigint key column's values, where they are one typed array with no nulls (the usual id):
 * read directly, not through Vector.get (a third of the key's cost in a 1M-row COPY).
 */
function plainInt64s(v: Vector): BigInt64Array | undefined {
  if (v.data.length !== 1 || v.nullCount > 0) return undefined;
  const d = v.data[0]!;
  if (!DataType.isInt(d.type) || d.type.bitWidth !== 64 || !d.type.isSigned || !(d.values instanceof BigInt64Array))
    return undefined;
  // As Vector.get reads them: a slice's values start at its first row (its offset is for the null bitmap).
  return d.values.subarray(0, d.length);
}

function binaryEncoder(layout: SinkLayout): CopyEncoder | undefined {
  const keyWriters = layout.keyFields.map(binaryWriter);
  if (keyWriters.some((w) => !w)) return undefined;
  const fieldCount = layout.keyFields.length + layout.outputs.length + rowMetadataColumns(layout).length;
  // Only the metadata that differs by row is sent (the rest is the run table's defaults): encoded
  // once per model, for routed rows; nothing otherwise.
  const encodeMeta = (values: MetadataValues) => {
    const w = new Writer(256);
    for (const v of rowMetadata(layout, values)) {
      if (v instanceof Date) w.timestamp(v.getTime());
      else w.bytes(Buffer.from(v, 'utf8'));
    }
    return Buffer.from(w.view());
  };
  const meta = metadataRows(layout);
  const runMeta = encodeMeta(meta.run);
  const modelMeta = meta.perModel.map(encodeMeta);
  return {
    format: 'binary',
    header: copyHeader,
    encode({ keys, keep, predictions, rows, modelIndex }) {
      const w = new Writer(rows * (runMeta.length + 16 + keys.length * 16 + predictions.length * 12) + 64);
      const micros = keys.map(exactMicros);
      const int64s = keys.map(plainInt64s);
      for (let r = 0; r < rows; r++) {
        const src = keep ? keep[r]! : r;
        w.i16(fieldCount);
        for (let k = 0; k < keys.length; k++) {
          const exact = micros[k];
          if (exact) {
            const us = exact(src);
            if (us === null) w.null();
            else w.timestampMicros(us);
            continue;
          }
          const plain = int64s[k];
          if (plain) {
            w.i64Field(plain[src]!);
            continue;
          }
          const v = keys[k]!.get(src);
          if (v === null || v === undefined) w.null();
          else keyWriters[k]!(w, v);
        }
        for (const p of predictions) {
          const values = p.values;
          if (values instanceof Float64Array) w.f64Field(values[r]!);
          else if (values instanceof BigInt64Array) w.i64Field(values[r]!);
          else if (values instanceof Uint8Array) {
            w.field(1);
            w.buf[w.pos++] = values[r]!;
          } else w.bytes(Buffer.from(values[r]!, 'utf8'));
        }
        const metaBytes = modelIndex ? modelMeta[modelIndex[r]!]! : runMeta;
        w.ensure(metaBytes.length);
        metaBytes.copy(w.buf, w.pos);
        w.pos += metaBytes.length;
      }
      return w.view();
    },
    trailer: () => TRAILER,
  };
}

/**
 * A key column's values as COPY text fields, by row: timestamps exact to the microsecond (read
 * through get() they are milliseconds), others as copyFormatter writes them; `\N` for null.
 */
export function keyText(field: Field, vector: Vector): (row: number) => string {
  const exact = exactMicros(vector);
  if (exact) {
    const zone = (vector.type as Timestamp).timezone ? '+00' : '';
    return (row) => {
      const us = exact(row);
      return us === null ? '\\N' : microsText(us, zone);
    };
  }
  const format = copyFormatter(field);
  return (row) => {
    const v = vector.get(row);
    return v === null || v === undefined ? '\\N' : copyText(format(v));
  };
}

function textEncoder(layout: SinkLayout): CopyEncoder {
  const suffix = (values: MetadataValues) =>
    rowMetadata(layout, values)
      .map((v) => copyText(v instanceof Date ? v.toISOString() : v))
      .join('\t');
  const meta = metadataRows(layout);
  const runSuffix = suffix(meta.run);
  const modelSuffix = meta.perModel.map(suffix);
  const sendsMeta = rowMetadataColumns(layout).length > 0;
  return {
    format: 'text',
    header: () => Buffer.alloc(0),
    encode({ keys, keep, predictions, rows, modelIndex }) {
      const parts: string[] = new Array(rows);
      const texts = keys.map((v, k) => keyText(layout.keyFields[k]!, v));
      for (let r = 0; r < rows; r++) {
        const src = keep ? keep[r]! : r;
        let line = '';
        for (const text of texts) line += text(src) + '\t';
        for (const p of predictions) {
          const values = p.values;
          if (values instanceof Float64Array) line += String(values[r]) + '\t';
          else if (values instanceof BigInt64Array) line += values[r]!.toString() + '\t';
          else if (values instanceof Uint8Array) line += (values[r] ? 't' : 'f') + '\t';
          else line += copyText(values[r]!) + '\t';
        }
        // The tab after the last prediction ends the line where no metadata is sent.
        parts[r] = sendsMeta ? line + (modelIndex ? modelSuffix[modelIndex[r]!]! : runSuffix) : line.slice(0, -1);
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
