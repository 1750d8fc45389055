import { DataType, Vector, makeData, tableToIPC, type Dictionary, type Table } from 'apache-arrow';
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
  /** Text columns sent all null, to be written as this one value on every row (constant-columns.ts). */
  readonly constants: readonly (readonly [column: string, value: string])[];
}

/**
 * The part with each text column that holds one value on every row (no nulls, and a dictionary
 * whose entries are all that value: the run's metadata columns) sent all null instead, and
 * those columns' values. Under `combine: route` the model columns name each row's model and are
 * sent as they are.
 */
export function withConstantsApart(table: Table): { table: Table; constants: [string, string][] } {
  const constants: [string, string][] = [];
  table.schema.fields.forEach((f, i) => {
    if (!f.nullable || !DataType.isDictionary(f.type) || !DataType.isUtf8((f.type as Dictionary).dictionary)) return;
    const column = table.getChildAt(i)!;
    const value = constantOf(column);
    if (value === undefined) return;
    constants.push([f.name, value]);
    // The same type and dictionary, every row null: parquet-wasm writes little more than the levels.
    const nulls = column.data.map((d) =>
      makeData({
        type: d.type,
        length: d.length,
        nullCount: d.length,
        nullBitmap: new Uint8Array((d.length + 7) >> 3),
        data: new Int8Array(d.length),
        dictionary: d.dictionary!,
      } as never),
    );
    table = table.setChildAt(i, new Vector(nulls));
  });
  return { table, constants };
}

function constantOf(column: Vector): string | undefined {
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
