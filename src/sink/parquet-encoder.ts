import {
  DataType,
  TimeUnit,
  Vector,
  makeData,
  tableToIPC,
  type Data,
  type Dictionary,
  type Table,
  type Timestamp,
} from 'apache-arrow';
import type { ParquetCompression } from '../config/job.js';
import { RuntimeFailure } from '../errors.js';
import { ParquetThread } from '../parquet-thread.js';
import { METADATA_NAMES } from '../output/columns.js';
import { MAX_TEXT_BYTES } from './constant-columns.js';
import type { SinkLayout } from './sink.js';
import type { CODECS } from '../parquet-codecs.js';

export interface EncodeTask {
  /** The part as an Arrow IPC stream. */
  readonly ipc: Uint8Array;
  readonly codec: keyof typeof CODECS;
  /** Columns written without a dictionary. */
  readonly plainColumns: readonly string[];
  /** Columns sent all null, to be written as this one value on every row (constant-columns.ts). */
  readonly constants: readonly Constant[];
}

/** A column's name and its value on every row: text as its UTF-8 bytes, or a timestamp's stored integer. */
export type Constant = readonly [column: string, value: Uint8Array | bigint];

/**
 * The part with each of the named columns that holds one value on every row sent all null
 * instead, and those columns' values: text whose dictionary entries are all that value (the
 * run's metadata columns; under `combine: route` partition and run_id, not the model columns,
 * which name each row's model), and a timestamp (scored_at), with no nulls. Only the run's
 * metadata columns are named: a key that happens to hold one value keeps the encoding the
 * part gives its keys, and a part's first column is never moved (readers that split files by
 * row group place a row group by its first column's offset).
 */
export function withConstantsApart(table: Table, names: readonly string[]): { table: Table; constants: Constant[] } {
  const constants: Constant[] = [];
  table.schema.fields.forEach((f, i) => {
    if (i === 0 || !f.nullable || !names.includes(f.name)) return;
    const column = table.getChildAt(i)!;
    const text = DataType.isDictionary(f.type) && DataType.isUtf8((f.type as Dictionary).dictionary);
    // parquet-rs stores seconds as milliseconds: only the units it stores as they are.
    const timestamp = DataType.isTimestamp(f.type) && (f.type as Timestamp).unit !== TimeUnit.SECOND;
    const value = text ? textConstant(column) : timestamp ? timestampConstant(column) : undefined;
    if (value === undefined) return;
    constants.push([f.name, value]);
    // The same type (and dictionary), every row null: parquet-wasm writes little more than the levels.
    const nulls = column.data.map((d) =>
      makeData({
        type: d.type,
        length: d.length,
        nullCount: d.length,
        nullBitmap: new Uint8Array((d.length + 7) >> 3),
        data: text ? new (d.type as Dictionary).indices.ArrayType(d.length) : new BigInt64Array(d.length),
        ...(text ? { dictionary: d.dictionary! } : {}),
      } as never),
    );
    table = table.setChildAt(i, new Vector(nulls));
  });
  return { table, constants };
}

function timestampConstant(column: Vector): bigint | undefined {
  let value: bigint | undefined;
  for (const d of column.data as Data[]) {
    const values = d.values as ArrayLike<unknown> & ArrayBufferView;
    if (d.nullCount > 0 || !values || values.byteLength < d.length * 8) return undefined;
    if (d.length === 0) continue;
    const first = new BigInt64Array(values.buffer, values.byteOffset, 1)[0]!;
    if (value !== undefined && first !== value) return undefined;
    value = first;
    // Every row holds the first row's value when the rows equal themselves moved by one row: one
    // memcmp. A loop here ran once a part, never often enough to stay compiled, and V8 compiled
    // it with TurboFan anew each time (six times a 1M-row run).
    const bytes = (d.length - 1) * 8;
    const rows = Buffer.from(values.buffer, values.byteOffset, bytes);
    if (!rows.equals(Buffer.from(values.buffer, values.byteOffset + 8, bytes))) return undefined;
  }
  return value;
}

/**
 * The one value of a dictionary text column, as its bytes: read through get() (a TextDecoder),
 * a leading byte-order mark would be dropped and invalid UTF-8 replaced.
 */
function textConstant(column: Vector): Uint8Array | undefined {
  let value: Uint8Array | undefined;
  for (const d of column.data) {
    const dictionary = d.dictionary;
    // Under combine: route, partition and run_id have an entry per model, all the same.
    if (d.nullCount > 0 || !dictionary || dictionary.length > 64 || dictionary.nullCount > 0) return undefined;
    for (const entries of dictionary.data) {
      // A slice's value offsets start at its first entry; its bytes are the whole buffer's.
      const offsets = entries.valueOffsets as Int32Array;
      const bytes = entries.values as Uint8Array;
      if (!(offsets instanceof Int32Array) || !(bytes instanceof Uint8Array)) return undefined;
      for (let i = 0; i < entries.length; i++) {
        const v = bytes.subarray(offsets[i]!, offsets[i + 1]!);
        if (v.length > MAX_TEXT_BYTES) return undefined;
        if (value !== undefined && !sameBytes(v, value)) return undefined;
        value ??= v.slice();
      }
    }
  }
  return value;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Encodes Parquet parts on the Parquet thread (parquet-thread.ts): on the main thread that time
 * was taken from reading and scoring, here it overlaps them. A 262,144-row part of a key, a
 * prediction and the metadata columns takes 30-40 ms there (README, Performance).
 */
export class ParquetEncoder {
  private readonly thread = new ParquetThread();

  async encode(task: EncodeTask): Promise<Uint8Array> {
    return (await this.thread.run({ kind: 'encode', ...task }, [task.ipc.buffer as ArrayBuffer])) as Uint8Array;
  }

  /** Part `part` of a sink's output as Parquet bytes: keys and scores without a dictionary. */
  async encodePart(table: Table, layout: SinkLayout, codec: ParquetCompression, part: number): Promise<Uint8Array> {
    const plainColumns = [...layout.keyFields.map((f) => f.name), ...layout.outputs.map((o) => o.column)];
    try {
      const apart = withConstantsApart(table, METADATA_NAMES);
      return await this.encode({
        ipc: tableToIPC(apart.table, 'stream'),
        codec,
        plainColumns,
        constants: apart.constants,
      });
    } catch (err) {
      throw new RuntimeFailure(`sink: cannot encode Parquet part ${part} (${(err as Error).message}).`, {
        code: 'sink_encode',
        cause: err,
      });
    }
  }

  /** Keeps the Parquet thread up from now until close() (ParquetThread.claim). */
  claim(): void {
    this.thread.claim();
  }

  close(): Promise<void> {
    return this.thread.close();
  }
}
