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

/** A column's name and its value on every row: text, or a timestamp's stored integer. */
export type Constant = readonly [column: string, value: string | bigint];

/**
 * The part with each column that holds one value on every row sent all null instead, and those
 * columns' values: text columns whose dictionary entries are all that value (the run's metadata
 * columns), and timestamps (scored_at), with no nulls. Under `combine: route` the model columns
 * name each row's model and are sent as they are.
 */
export function withConstantsApart(table: Table): { table: Table; constants: Constant[] } {
  const constants: Constant[] = [];
  table.schema.fields.forEach((f, i) => {
    if (!f.nullable) return;
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
        data: text ? new Int8Array(d.length) : new BigInt64Array(d.length),
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
    // As 32-bit halves: comparing BigInts row by row would allocate one per row.
    const halves = new Int32Array(values.buffer, values.byteOffset, d.length * 2);
    const first = new BigInt64Array(values.buffer, values.byteOffset, 1)[0]!;
    if (value !== undefined && first !== value) return undefined;
    value = first;
    const lo = halves[0]!;
    const hi = halves[1]!;
    for (let i = 2; i < halves.length; i += 2) if (halves[i] !== lo || halves[i + 1] !== hi) return undefined;
  }
  return value;
}

function textConstant(column: Vector): string | undefined {
  let value: string | undefined;
  for (const d of column.data) {
    const dictionary = d.dictionary;
    // Under combine: route, partition and run_id have an entry per model, all the same.
    if (d.nullCount > 0 || !dictionary || dictionary.length > 64 || dictionary.nullCount > 0) return undefined;
    for (let i = 0; i < dictionary.length; i++) {
      const v = dictionary.get(i) as string;
      if (value !== undefined && v !== value) return undefined;
      value = v;
    }
  }
  return value;
}

/**
 * Encodes Parquet parts on the Parquet thread (parquet-thread.ts). Encoding a part of 262,144 rows takes about a
 * third of a second of parquet-wasm; on the main thread that time was taken from reading and
 * scoring, here it overlaps them (README, Performance).
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
      const apart = withConstantsApart(table);
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
