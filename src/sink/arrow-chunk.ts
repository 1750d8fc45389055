import {
  Bool,
  DataType,
  Dictionary,
  Int8,
  Table,
  TimestampMillisecond,
  Utf8,
  Vector,
  makeData,
  makeVector,
  tableFromIPC,
  tableToIPC,
  vectorFromArray,
} from 'apache-arrow';
import type { PredictionValues } from '../tensors/from-outputs.js';
import { METADATA_COLUMNS } from '../output/columns.js';
import { metadataRows } from './run-metadata.js';
import type { ScoredChunk, SinkLayout } from './sink.js';

/**
 * A key column as the part file stores it: the kept rows, and plain values (one file of a glob may
 * store a key dictionary-encoded and another not; a part file needs one type). A copy, exact.
 */
export function keyVector(v: Vector, keep: Uint32Array | undefined): Vector {
  if (DataType.isDictionary(v.type)) return keyVector(decodeDictionary(v), keep);
  const taken = takeRows(v, keep);
  if (taken) return taken;
  // Other types (lists, structs, booleans) are rare as keys: copied exactly, like the others, so
  // that no part holds a view of the source's buffers (freed once the chunk is written).
  return copiedExactly(v, keep ?? Uint32Array.from({ length: v.length }, (_, i) => i));
}

/**
 * A dictionary-encoded column as plain values of its value type, each row its dictionary entry
 * copied exactly (a categorical key, as pandas writes one). Read through get(), a nanosecond
 * timestamp lost its last digits and a microsecond one, written to Postgres, its microseconds.
 * Other columns are returned as they are.
 */
export function decodeDictionary(v: Vector): Vector {
  if (!DataType.isDictionary(v.type)) return v;
  const valueType = (v.type as Dictionary).dictionary;
  const parts = v.data.map((d) => {
    const n = d.length;
    // As Vector.get reads them: a slice's indices start at its first row, its validity at its offset.
    const indices = d.values as ArrayLike<number | bigint>;
    const at = new Uint32Array(n);
    const indexNull = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      if (d.nullCount > 0 && !d.getValid(i)) indexNull[i] = 1;
      else at[i] = Number(indices[i]);
    }
    const dictionary = d.dictionary!;
    const taken = takeRows(dictionary, at);
    if (!taken) {
      // Types takeRows does not copy (booleans, lists): get() reads them exactly.
      const values = Array.from({ length: n }, (_, i) => (indexNull[i] ? null : dictionary.get(at[i]!)));
      return vectorFromArray(values, valueType).data[0]!;
    }
    const t = taken.data[0]!;
    if (!indexNull.includes(1)) return t;
    // The row is null where its index is, as well as where its entry is.
    const bitmap = new Uint8Array((n + 7) >> 3);
    let nullCount = 0;
    for (let i = 0; i < n; i++) {
      if (!indexNull[i] && t.getValid(i)) bitmap[i >> 3]! |= 1 << (i & 7);
      else nullCount++;
    }
    return t.clone(t.type, 0, n, nullCount, [t.valueOffsets, t.values, bitmap, undefined] as never);
  });
  return new Vector(parts);
}

/**
 * The kept rows of a column of any type, as Arrow stores them: slices of the runs of consecutive
 * rows, written to an IPC stream and read back, which copies only what the slices hold (a list's
 * child values included). Rebuilt from get() instead, a list of ints came out as zeros and a
 * timestamp nested in a struct as milliseconds.
 */
function copiedExactly(v: Vector, keep: Uint32Array): Vector {
  const slices: Vector[] = [];
  for (let i = 0; i < keep.length;) {
    let j = i + 1;
    while (j < keep.length && keep[j] === keep[j - 1]! + 1) j++;
    slices.push(v.slice(keep[i]!, keep[j - 1]! + 1));
    i = j;
  }
  if (slices.length === 0) return v.slice(0, 0);
  const table = new Table({ k: new Vector(slices.flatMap((x) => x.data)) });
  return tableFromIPC(tableToIPC(table, 'stream')).getChild('k')!;
}

/** Types whose values are `stride` elements of one typed array per row. */
function fixedWidth(type: DataType): boolean {
  return (
    DataType.isInt(type) ||
    DataType.isFloat(type) ||
    DataType.isTimestamp(type) ||
    DataType.isDate(type) ||
    DataType.isTime(type) ||
    DataType.isDecimal(type) ||
    DataType.isDuration(type) ||
    DataType.isInterval(type) ||
    DataType.isFixedSizeBinary(type)
  );
}

/**
 * A key column's rows (`keep`, or all of them) copied buffer by buffer out of the source's batch,
 * the values as stored: read through `get()` a timestamp became a number of milliseconds (wrong
 * below the millisecond, beyond 2^53, or before 1970). Copied, not viewed, even when all rows are
 * kept: a part holds its chunks' keys until it is written (262,144 rows by default), and a view
 * would hold each batch's whole buffer, every feature column with it: 35 MB of a 32-float source
 * per part (README, Performance). Undefined for other types.
 */
function takeRows(v: Vector, keep: Uint32Array | undefined): Vector | undefined {
  if (v.data.length !== 1) return undefined;
  const d = v.data[0]!;
  const { type } = d;
  const utf8 = (DataType.isUtf8(type) || DataType.isBinary(type)) && d.valueOffsets instanceof Int32Array;
  if (!d.values || !(fixedWidth(type) || utf8)) return undefined;
  const n = keep ? keep.length : d.length;
  // As Vector.get reads a slice: its values (and value offsets) start at its first row; only the
  // null bitmap is the whole buffer's, read from the slice's offset.
  const row = (i: number) => (keep ? keep[i]! : i);
  let nullCount = 0;
  let nullBitmap: Uint8Array | undefined;
  const bits = d.nullBitmap;
  if (d.nullCount > 0 && bits && bits.length > 0) {
    nullBitmap = new Uint8Array((n + 7) >> 3);
    for (let i = 0; i < n; i++) {
      const b = d.offset + row(i);
      if (bits[b >> 3]! & (1 << (b & 7))) nullBitmap[i >> 3]! |= 1 << (i & 7);
      else nullCount++;
    }
  }
  const nulls = nullBitmap ? { nullCount, nullBitmap } : { nullCount: 0 };
  if (utf8) {
    const offsets = d.valueOffsets as Int32Array;
    const bytes = d.values as Uint8Array;
    const valueOffsets = new Int32Array(n + 1);
    for (let i = 0; i < n; i++) valueOffsets[i + 1] = valueOffsets[i]! + offsets[row(i) + 1]! - offsets[row(i)]!;
    const data = new Uint8Array(valueOffsets[n]!);
    for (let i = 0; i < n; i++) data.set(bytes.subarray(offsets[row(i)]!, offsets[row(i) + 1]!), valueOffsets[i]!);
    return makeVector(makeData({ type, length: n, ...nulls, valueOffsets, data } as never));
  }
  const stride = d.stride;
  const values = d.values as Int32Array;
  const data = new (values.constructor as new (n: number) => Int32Array)(n * stride);
  if (!keep) data.set(values.subarray(0, n * stride));
  else for (let i = 0; i < n; i++) data.set(values.subarray(row(i) * stride, (row(i) + 1) * stride), i * stride);
  return makeVector(makeData({ type, length: n, ...nulls, data } as never));
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
