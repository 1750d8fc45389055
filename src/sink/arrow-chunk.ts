import { Bool, Dictionary, Int8, Table, TimestampMillisecond, Utf8, makeData, makeVector, vectorFromArray, type Vector } from 'apache-arrow';
import type { PredictionValues } from '../tensors/from-outputs.js';
import type { ScoredChunk, SinkLayout } from './sink.js';

function keyVector(v: Vector, keep: Uint32Array | undefined): Vector {
  if (!keep) return v;
  const values = new Array(keep.length);
  for (let i = 0; i < keep.length; i++) values[i] = v.get(keep[i]!);
  return vectorFromArray(values, v.type);
}

function predictionVector(values: PredictionValues): Vector {
  if (values instanceof Float64Array || values instanceof BigInt64Array) return makeVector(values);
  if (values instanceof Uint8Array) return vectorFromArray(Array.from(values, (x) => x === 1), new Bool());
  return vectorFromArray(values, new Utf8());
}

/**
 * A column of n copies of one string, dictionary-encoded: one int8 index per row instead of the
 * string, so a million-row part file does not carry a million copies through Arrow IPC into the
 * writer. Parquet stores it dictionary-encoded either way; readers get strings.
 */
function constantUtf8(value: string, n: number, id: number): Vector {
  const dictionary = vectorFromArray([value], new Utf8());
  return makeVector(makeData({ type: new Dictionary(new Utf8(), new Int8(), id), length: n, data: new Int8Array(n), dictionary }));
}

function constantTimestamp(at: Date, n: number): Vector {
  return makeVector(makeData({ type: new TimestampMillisecond('UTC'), length: n, data: new BigInt64Array(n).fill(BigInt(at.getTime())) }));
}

// Fixed ids: every batch of a part file must share each column's dictionary.
const DICT_IDS = { model_name: 1_000_001, model_version: 1_000_002, partition: 1_000_003, run_id: 1_000_004 } as const;

/** Run metadata columns are the same for every chunk of a given size: build them once per size. */
const metadataCache = new WeakMap<SinkLayout, Map<number, Record<string, Vector>>>();
function metadataColumns(layout: SinkLayout, n: number): Record<string, Vector> {
  let bySize = metadataCache.get(layout);
  if (!bySize) metadataCache.set(layout, (bySize = new Map()));
  let cols = bySize.get(n);
  if (!cols) {
    cols = {
      model_name: constantUtf8(layout.modelName, n, DICT_IDS.model_name),
      model_version: constantUtf8(layout.modelVersion, n, DICT_IDS.model_version),
      partition: constantUtf8(layout.partition, n, DICT_IDS.partition),
      run_id: constantUtf8(layout.runId, n, DICT_IDS.run_id),
      scored_at: constantTimestamp(layout.scoredAt, n),
    };
    if (bySize.size < 4) bySize.set(n, cols);
  }
  return cols;
}

/** Routed rows name their own model: dictionaries of every model's name and version, one int8 per row. */
const routedDictionaries = new WeakMap<SinkLayout, { names: Vector; versions: Vector }>();
function routedColumns(layout: SinkLayout, modelIndex: Uint8Array): Record<string, Vector> {
  let d = routedDictionaries.get(layout);
  if (!d) {
    d = { names: vectorFromArray(layout.models.map((m) => m.name), new Utf8()), versions: vectorFromArray(layout.models.map((m) => m.version), new Utf8()) };
    routedDictionaries.set(layout, d);
  }
  const indices = new Int8Array(modelIndex.buffer, modelIndex.byteOffset, modelIndex.length);
  const n = modelIndex.length;
  return {
    model_name: makeVector(makeData({ type: new Dictionary(new Utf8(), new Int8(), DICT_IDS.model_name), length: n, data: indices, dictionary: d.names })),
    model_version: makeVector(makeData({ type: new Dictionary(new Utf8(), new Int8(), DICT_IDS.model_version), length: n, data: indices, dictionary: d.versions })),
  };
}

/** One scored chunk as an Arrow table with the output layout: keys, predictions, run metadata. */
export function chunkTable(chunk: ScoredChunk, layout: SinkLayout): Table {
  const n = chunk.rows;
  const columns: Record<string, Vector> = {};
  layout.keyFields.forEach((f, i) => (columns[f.name] = keyVector(chunk.keys[i]!, chunk.keep)));
  for (const p of chunk.predictions) columns[p.column] = predictionVector(p.values);
  const meta = metadataColumns(layout, n);
  return new Table({ ...columns, ...meta, ...(chunk.modelIndex ? routedColumns(layout, chunk.modelIndex) : {}) });
}
