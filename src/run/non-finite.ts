import type { Reject } from '../tensors/to-feeds.js';
import type { ScoredChunk } from '../sink/sink.js';

/**
 * Rows whose float predictions are not finite (NaN, ±infinity) are rejected, not published: a
 * model that returns NaN must not write NaN scores with exit 0. Returns the chunk without those
 * rows and a reject per row (its source row in the batch, and the column and output that failed).
 */
export function dropNonFinite(
  chunk: ScoredChunk,
  outputOf: (column: string) => string,
): { chunk: ScoredChunk; rejects: Reject[] } {
  const floats = chunk.predictions.filter((p) => p.values instanceof Float64Array);
  let bad: Map<number, string> | undefined;
  for (const p of floats) {
    const values = p.values as Float64Array;
    for (let r = 0; r < chunk.rows; r++) {
      const v = values[r]!;
      if (Number.isFinite(v) || bad?.has(r)) continue;
      bad ??= new Map();
      const what = Number.isNaN(v) ? 'NaN' : v > 0 ? 'infinite' : '-infinite';
      bad.set(r, `prediction "${p.column}" (model output "${outputOf(p.column)}") is ${what}`);
    }
  }
  if (!bad) return { chunk, rejects: [] };
  const kept: number[] = [];
  for (let r = 0; r < chunk.rows; r++) if (!bad.has(r)) kept.push(r);
  const source = (r: number) => (chunk.keep ? chunk.keep[r]! : r);
  const rejects = [...bad].map(([r, reason]) => ({ row: source(r), reason })).sort((a, b) => a.row - b.row);
  const predictions = chunk.predictions.map((p) => {
    const v = p.values;
    const values =
      v instanceof Float64Array
        ? Float64Array.from(kept, (r) => v[r]!)
        : v instanceof BigInt64Array
          ? BigInt64Array.from(kept, (r) => v[r]!)
          : v instanceof Uint8Array
            ? Uint8Array.from(kept, (r) => v[r]!)
            : kept.map((r) => v[r]!);
    return { ...p, values };
  });
  return {
    chunk: {
      ...chunk,
      rows: kept.length,
      keep: Uint32Array.from(kept, source),
      predictions,
      ...(chunk.modelIndex ? { modelIndex: Uint8Array.from(kept, (r) => chunk.modelIndex![r]!) } : {}),
    },
    rejects,
  };
}
