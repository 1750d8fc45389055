import type { Histogram } from './types.js';

// Histograms on a power-of-two grid: every edge is a whole multiple of the bin width, and the
// width is a power of two. Two such histograms always nest: each bin of the finer one lies inside
// one bin of the coarser one, so a merge (shards of a partition) or a common x axis (the report)
// only adds counts, never splits a bin. Ten bins from min to max, as older runs stored them, do
// not nest; re-binning those spreads a bin's count evenly over the part of it each new bin
// covers, an approximation (see rebin).

/**
 * Most bins a histogram gets; the grid gives it between half this and this many (8 for values in
 * [0, 1]). PSI grows with the number of bins: this keeps it near the ten bins max_psi was set for.
 */
export const MAX_BINS = 12;

/** Floats carry 53 bits: bin indexes stay below 2^40 so `index × width` is exact. */
const INDEX_BITS = 40;

const pow2 = (e: number) => 2 ** Math.max(-1074, Math.min(1023, e));

/** Bins of width `w` from the one holding `lo` to the one holding `hi` (a value on the last edge stays in the last, closed bin). */
function binSpan(lo: number, hi: number, w: number): { first: number; bins: number } {
  const first = Math.floor(lo / w);
  return { first, bins: Math.max(first + 1, Math.ceil(hi / w)) - first };
}

/** The narrowest power-of-two width, at least `atLeast`, that covers [lo, hi] in at most `maxBins` aligned bins. */
export function gridWidth(lo: number, hi: number, atLeast = 0, maxBins = MAX_BINS): number {
  const scale = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
  let w = pow2(Math.floor(Math.log2(scale)) - INDEX_BITS);
  if (hi > lo) w = Math.max(w, pow2(Math.ceil(Math.log2((hi - lo) / maxBins))));
  while (w < atLeast) w *= 2;
  while (binSpan(lo, hi, w).bins > maxBins) w *= 2;
  return w;
}

/** The aligned edges of width `w` that cover [lo, hi]. */
export function gridEdges(lo: number, hi: number, w: number = gridWidth(lo, hi)): number[] {
  const { first, bins } = binSpan(lo, hi, w);
  return Array.from({ length: bins + 1 }, (_, i) => (first + i) * w);
}

/** A power of two at least as wide as `h`'s first bin: a grid this wide nests `h`'s bins when `h` is on a grid. */
function widthOf(h: Histogram): number {
  const w = h.edges.length > 1 ? h.edges[1]! - h.edges[0]! : 0;
  return w > 0 ? pow2(Math.ceil(Math.log2(w))) : 0;
}

/** One grid that covers every histogram, coarse enough that each of their bins nests in one of its bins. */
export function commonEdges(hists: readonly Histogram[]): number[] {
  const some = hists.filter((h) => h.counts.length > 0 && h.edges.length > 1);
  if (some.length === 0) return [];
  const lo = Math.min(...some.map((h) => h.edges[0]!));
  const hi = Math.max(...some.map((h) => h.edges.at(-1)!));
  return gridEdges(lo, hi, gridWidth(lo, hi, Math.max(...some.map(widthOf))));
}

/**
 * `h`'s counts on other `edges`, whose outer bins are open (as binCounts counts). A bin of `h`
 * that lies inside one new bin moves whole, so histograms on one grid re-bin exactly; a bin that
 * straddles new edges is shared out in proportion to the overlap, as if its values were spread
 * evenly across it.
 */
export function rebin(h: Histogram, edges: readonly number[]): number[] {
  const bins = Math.max(1, edges.length - 1);
  const out = new Array<number>(bins).fill(0);
  h.counts.forEach((c, i) => {
    const a = h.edges[i];
    const b = h.edges[i + 1];
    if (c === 0 || a === undefined || b === undefined) return;
    for (let j = 0; j < bins; j++) {
      const t0 = j === 0 ? -Infinity : edges[j]!;
      const t1 = j === bins - 1 ? Infinity : edges[j + 1]!;
      // A bin of no width (a constant column in an older run) goes where its value falls.
      if (b <= a) {
        if (a >= t0 && (a < t1 || j === bins - 1)) out[j]! += c;
        continue;
      }
      const overlap = Math.min(b, t1) - Math.max(a, t0);
      if (overlap >= b - a) out[j]! += c;
      else if (overlap > 0) out[j]! += (c * overlap) / (b - a);
    }
  });
  return out;
}

/** The sum of histograms on their common grid: exact for grid histograms. */
export function mergeHistograms(hists: readonly Histogram[]): Histogram {
  const edges = commonEdges(hists);
  if (edges.length === 0) return { edges: [], counts: [] };
  const counts = new Array<number>(edges.length - 1).fill(0);
  for (const h of hists) rebin(h, edges).forEach((c, j) => (counts[j]! += c));
  return { edges, counts };
}
