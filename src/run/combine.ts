import type { RecordBatch } from 'apache-arrow';
import type { Combine } from '../config/job.js';
import { allocatePredictions, type PredictionColumn } from '../tensors/from-outputs.js';
import type { OutputColumn } from '../output/columns.js';
import type { Reject } from '../tensors/to-feeds.js';

/** Which model scores which rows of a batch under combine: route; rows with no route are rejected. */
export function routeRows(
  batch: RecordBatch,
  combine: Extract<Combine, { mode: 'route' }>,
  models: number,
): { candidates: Uint32Array[]; unrouted: Reject[] } {
  const column = batch.getChild(combine.by)!;
  const picks = new Int32Array(batch.numRows);
  const counts = new Array<number>(models).fill(0);
  const unrouted: Reject[] = [];
  for (let r = 0; r < batch.numRows; r++) {
    const v = column.get(r);
    // Own keys only: a value named like an Object.prototype member (constructor) is not a route.
    const m =
      v === null || v === undefined
        ? combine.defaultModel
        : Object.hasOwn(combine.routes, String(v))
          ? combine.routes[String(v)]
          : combine.defaultModel;
    if (m === undefined) {
      picks[r] = -1;
      unrouted.push({
        row: r,
        reason: `no route for ${combine.by} = ${v === null || v === undefined ? 'null' : String(v)}`,
      });
    } else {
      picks[r] = m;
      counts[m]!++;
    }
  }
  const candidates = counts.map((n) => new Uint32Array(n));
  const fill = new Array<number>(models).fill(0);
  for (let r = 0; r < batch.numRows; r++) {
    const m = picks[r]!;
    if (m >= 0) candidates[m]![fill[m]!++] = r;
  }
  return { candidates, unrouted };
}

/** Weighted mean of each prediction column across models that scored the same rows. */
export function averagePredictions(
  parts: readonly PredictionColumn[][],
  weights: readonly number[],
): PredictionColumn[] {
  const total = weights.reduce((a, b) => a + b, 0);
  return parts[0]!.map((col, c) => {
    const n = col.values.length;
    const out = new Float64Array(n);
    parts.forEach((p, m) => {
      const w = weights[m]! / total;
      if (w === 0) return;
      const v = p[c]!.values as Float64Array;
      for (let r = 0; r < n; r++) out[r]! += w * v[r]!;
    });
    return { column: col.column, sqlType: col.sqlType, values: out };
  });
}

/**
 * Puts the rows each routed model scored back into source order. Returns the merged rows
 * (`keep`, source row indices), their predictions, and which model scored each row.
 */
export function mergeRouted(
  parts: readonly { model: number; keep: Uint32Array; predictions: PredictionColumn[] }[],
  outputs: readonly OutputColumn[],
): { keep: Uint32Array; predictions: PredictionColumn[]; modelIndex: Uint8Array } {
  const total = parts.reduce((n, p) => n + p.keep.length, 0);
  const order: { row: number; part: number; pos: number }[] = [];
  parts.forEach((p, part) => p.keep.forEach((row, pos) => order.push({ row, part, pos })));
  order.sort((a, b) => a.row - b.row);
  const keep = new Uint32Array(total);
  const modelIndex = new Uint8Array(total);
  const predictions = outputs.map((o) => ({
    column: o.column,
    sqlType: o.sqlType,
    values: allocatePredictions(o.sqlType, total),
  }));
  order.forEach(({ row, part, pos }, i) => {
    keep[i] = row;
    modelIndex[i] = parts[part]!.model;
    predictions.forEach(
      (col, c) =>
        ((col.values as unknown as unknown[])[i] = (parts[part]!.predictions[c]!.values as unknown as unknown[])[pos]),
    );
  });
  return { keep, predictions, modelIndex };
}
