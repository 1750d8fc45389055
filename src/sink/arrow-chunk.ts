import {
  Bool,
  DataType,
  Dictionary,
  Int8,
  Table,
  TimestampMillisecond,
  Utf8,
  makeData,
  makeVector,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';
import type { PredictionValues } from '../tensors/from-outputs.js';
import { METADATA_COLUMNS } from '../output/columns.js';
import { metadataRows } from './run-metadata.js';
import type { ScoredChunk, SinkLayout } from './sink.js';

/**
 * A key column as the part file stores it: the kept rows, and plain values (one file of a glob may
 * store a key dictionary-encoded and another not; a part file needs one type).
 */
function keyVector(v: Vector, keep: Uint32Array | undefined): Vector {
  const dictionary = DataType.isDictionary(v.type);
  if (!keep && !dictionary) return copied(v) ?? copiedByValue(v);
  return copiedByValue(v, keep);
}

function copiedByValue(v: Vector, keep?: Uint32Array): Vector {
  const n = keep ? keep.length : v.length;
  const values = new Array(n);
  for (let i = 0; i < n; i++) values[i] = v.get(keep ? keep[i]! : i);
  return vectorFromArray(values, DataType.isDictionary(v.type) ? (v.type as Dictionary).dictionary : v.type);
}

/**
 * A key column's buffers copied out of the source's batch. A part holds its chunks' keys until it
 * is written (262,144 rows by default), and a view would hold each batch's whole buffer, every
 * feature column with it: 35 MB of a 32-float source per part (README, Performance). Numbers and
 * strings are copied buffer by buffer; undefined for other types (copied value by value).
 */
function copied(v: Vector): Vector | undefined {
  if (v.data.length !== 1) return undefined;
  const d = v.data[0]!;
  const { type, length, offset } = d;
  if (offset !== 0 || !d.values) return undefined;
  const nullBitmap = d.nullCount > 0 && d.nullBitmap ? d.nullBitmap.slice(0, (length + 7) >> 3) : undefined;
  const common = { length, nullCount: d.nullCount, ...(nullBitmap ? { nullBitmap } : {}) };
  if (DataType.isInt(type) || DataType.isFloat(type))
    return makeVector(makeData({ type, ...common, data: d.values.slice(0, length * d.stride) } as never));
  if (DataType.isUtf8(type) && d.valueOffsets) {
    const valueOffsets = (d.valueOffsets as Int32Array).slice(0, length + 1);
    const end = valueOffsets[length]!;
    return makeVector(makeData({ type, ...common, valueOffsets, data: (d.values as Uint8Array).slice(0, end) }));
  }
  return undefined;
}

function predictionVector(values: PredictionValues): Vector {
  if (values instanceof Float64Array || values instanceof BigInt64Array) return makeVector(values);
  if (values instanceof Uint8Array)
    return vectorFromArray(
      Array.from(values, (x) => x === 1),
      new Bool(),
    );
  return vectorFromArray(values, new Utf8());
}

// Fixed ids, and one dictionary Vector per column for the whole run: the Arrow IPC writer sends a
// dictionary once per id and treats a different Vector under the same id as a replacement.
const DICT_ID_BASE = 1_000_001;

interface RunDictionaries {
  /** By metadata column position; undefined for the timestamp column. */
  readonly values: readonly (Vector | undefined)[];
  readonly scoredAt: bigint;
  /** Zero indices by column and chunk size: every row points at the run's single value. */
  readonly zeros: Map<string, Int8Array>;
}

const runDictionaries = new WeakMap<SinkLayout, RunDictionaries>();
function dictionariesFor(layout: SinkLayout): RunDictionaries {
  let d = runDictionaries.get(layout);
  if (!d) {
    // Under combine: route each row names its own model, so the dictionaries list every model's values.
    const meta = metadataRows(layout);
    const rows = layout.routed === true ? meta.perModel : [meta.run];
    d = {
      values: METADATA_COLUMNS.map((c, i) =>
        c.sqlType === 'text'
          ? vectorFromArray(
              rows.map((r) => r[i] as string),
              new Utf8(),
            )
          : undefined,
      ),
      scoredAt: BigInt(layout.scoredAt.getTime()),
      zeros: new Map(),
    };
    runDictionaries.set(layout, d);
  }
  return d;
}

/**
 * The run metadata columns, dictionary-encoded: one int8 index per row instead of the string,
 * so a part file does not carry a copy of each string per row through Arrow IPC into the
 * writer. Parquet stores them dictionary-encoded either way; readers get strings.
 */
function metadataColumns(layout: SinkLayout, n: number, modelIndex: Uint8Array | undefined): Record<string, Vector> {
  const d = dictionariesFor(layout);
  // Each column gets its own index array: Arrow's IPC writer corrupts two columns that share a buffer.
  const zeros = (column: string) => {
    const key = `${column}:${n}`;
    let z = d.zeros.get(key);
    if (!z) {
      z = new Int8Array(n);
      if (d.zeros.size < 32) d.zeros.set(key, z);
    }
    return z;
  };
  const columns: Record<string, Vector> = {};
  METADATA_COLUMNS.forEach((c, i) => {
    const dictionary = d.values[i];
    if (!dictionary) {
      const data = new BigInt64Array(n).fill(d.scoredAt);
      columns[c.name] = makeVector(makeData({ type: new TimestampMillisecond('UTC'), length: n, data }));
      return;
    }
    const indices = modelIndex ? Int8Array.from(modelIndex) : zeros(c.name);
    const type = new Dictionary(new Utf8(), new Int8(), DICT_ID_BASE + i);
    columns[c.name] = makeVector(makeData({ type, length: n, data: indices, dictionary }));
  });
  return columns;
}

/** One scored chunk as an Arrow table with the output layout: keys, predictions, run metadata. */
export function chunkTable(chunk: ScoredChunk, layout: SinkLayout): Table {
  const n = chunk.rows;
  const columns: Record<string, Vector> = {};
  layout.keyFields.forEach((f, i) => (columns[f.name] = keyVector(chunk.keys[i]!, chunk.keep)));
  for (const p of chunk.predictions) columns[p.column] = predictionVector(p.values);
  return new Table({ ...columns, ...metadataColumns(layout, n, chunk.modelIndex) });
}
