import {
  Bool,
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
import type { ScoredChunk, SinkLayout } from './sink.js';

function keyVector(v: Vector, keep: Uint32Array | undefined): Vector {
  if (!keep) return v;
  const values = new Array(keep.length);
  for (let i = 0; i < keep.length; i++) values[i] = v.get(keep[i]!);
  return vectorFromArray(values, v.type);
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
const DICT_IDS = { model_name: 1_000_001, model_version: 1_000_002, partition: 1_000_003, run_id: 1_000_004 } as const;
type DictColumn = keyof typeof DICT_IDS;

interface RunDictionaries {
  readonly values: Record<DictColumn, Vector>;
  /** Zero indices by column and chunk size: every row points at the run's single value. */
  readonly zeros: Map<string, Int8Array>;
}

const runDictionaries = new WeakMap<SinkLayout, RunDictionaries>();
function dictionariesFor(layout: SinkLayout): RunDictionaries {
  let d = runDictionaries.get(layout);
  if (!d) {
    // Under combine: route each row names its own model, so those dictionaries list every model.
    const routed = layout.routed === true;
    const dict = (values: string[]) => vectorFromArray(values, new Utf8());
    d = {
      values: {
        model_name: dict(routed ? layout.models.map((m) => m.name) : [layout.modelName]),
        model_version: dict(routed ? layout.models.map((m) => m.version) : [layout.modelVersion]),
        partition: dict([layout.partition]),
        run_id: dict([layout.runId]),
      },
      zeros: new Map(),
    };
    runDictionaries.set(layout, d);
  }
  return d;
}

function dictColumn(d: RunDictionaries, column: DictColumn, indices: Int8Array): Vector {
  return makeVector(
    makeData({
      type: new Dictionary(new Utf8(), new Int8(), DICT_IDS[column]),
      length: indices.length,
      data: indices,
      dictionary: d.values[column],
    }),
  );
}

/**
 * The run metadata columns, dictionary-encoded: one int8 index per row instead of the string,
 * so a part file does not carry a copy of each string per row through Arrow IPC into the
 * writer. Parquet stores them dictionary-encoded either way; readers get strings.
 */
function metadataColumns(layout: SinkLayout, n: number, modelIndex: Uint8Array | undefined): Record<string, Vector> {
  const d = dictionariesFor(layout);
  // Each column gets its own index array: Arrow's IPC writer corrupts two columns that share a buffer.
  const zeros = (column: DictColumn) => {
    const key = `${column}:${n}`;
    let z = d.zeros.get(key);
    if (!z) {
      z = new Int8Array(n);
      if (d.zeros.size < 32) d.zeros.set(key, z);
    }
    return z;
  };
  const routed = (copy: boolean) =>
    copy ? Int8Array.from(modelIndex!) : new Int8Array(modelIndex!.buffer, modelIndex!.byteOffset, modelIndex!.length);
  return {
    model_name: dictColumn(d, 'model_name', modelIndex ? routed(false) : zeros('model_name')),
    model_version: dictColumn(d, 'model_version', modelIndex ? routed(true) : zeros('model_version')),
    partition: dictColumn(d, 'partition', zeros('partition')),
    run_id: dictColumn(d, 'run_id', zeros('run_id')),
    scored_at: makeVector(
      makeData({
        type: new TimestampMillisecond('UTC'),
        length: n,
        data: new BigInt64Array(n).fill(BigInt(layout.scoredAt.getTime())),
      }),
    ),
  };
}

/** One scored chunk as an Arrow table with the output layout: keys, predictions, run metadata. */
export function chunkTable(chunk: ScoredChunk, layout: SinkLayout): Table {
  const n = chunk.rows;
  const columns: Record<string, Vector> = {};
  layout.keyFields.forEach((f, i) => (columns[f.name] = keyVector(chunk.keys[i]!, chunk.keep)));
  for (const p of chunk.predictions) columns[p.column] = predictionVector(p.values);
  return new Table({ ...columns, ...metadataColumns(layout, n, chunk.modelIndex) });
}
