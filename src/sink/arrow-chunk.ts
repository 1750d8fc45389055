import { Bool, Table, TimestampMillisecond, Utf8, makeVector, vectorFromArray, type Vector } from 'apache-arrow';
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

function constant(value: string, n: number): Vector {
  return vectorFromArray(new Array<string>(n).fill(value), new Utf8());
}

/** One scored chunk as an Arrow table with the output layout: keys, predictions, run metadata. */
export function chunkTable(chunk: ScoredChunk, layout: SinkLayout): Table {
  const n = chunk.rows;
  const columns: Record<string, Vector> = {};
  layout.keyFields.forEach((f, i) => (columns[f.name] = keyVector(chunk.keys[i]!, chunk.keep)));
  for (const p of chunk.predictions) columns[p.column] = predictionVector(p.values);
  columns.model_name = constant(layout.modelName, n);
  columns.model_version = constant(layout.modelVersion, n);
  columns.partition = constant(layout.partition, n);
  columns.run_id = constant(layout.runId, n);
  columns.scored_at = vectorFromArray(new Array<Date>(n).fill(layout.scoredAt), new TimestampMillisecond('UTC'));
  return new Table(columns);
}
