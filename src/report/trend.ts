import type { RunRecord } from '../ledger/record.js';
import type { Distribution, RunStats } from '../stats/types.js';
import { esc, fmt, px } from './svg.js';

// The job's recent runs as one line: the mean of one prediction column, on an axis from zero so
// a move from 0.36 to 0.52 looks like what it is.

/** The column the trend follows, and why it was chosen (shown on the page). */
export interface TrendColumn {
  readonly column: string;
  readonly why: string;
}

const hasMean = (d: Distribution | undefined): d is Distribution => typeof d?.mean === 'number';
/** Older runs did not record kinds: a column whose recorded figures are all whole numbers is taken for a label. */
const looksFractional = (d: Distribution) =>
  ![d.min, d.max, ...Object.values(d.quantiles)].every((v) => v === null || Number.isInteger(v));

/**
 * The first float prediction column in the job's declared output order (a score, not a label);
 * the ledger's key order is never used, since jsonb reorders keys. For runs recorded before the
 * order was kept: the first column by name whose values are not all whole numbers.
 */
export function trendColumn(stats: RunStats | null | undefined): TrendColumn | undefined {
  const preds = stats?.predictions ?? {};
  const order = stats?.prediction_columns;
  if (order) {
    const float = order.find((n) => preds[n]?.kind === 'float' && hasMean(preds[n]));
    if (float) return { column: float, why: "the first float prediction column in the job's output order" };
    const other = order.find((n) => hasMean(preds[n]));
    return other === undefined
      ? undefined
      : { column: other, why: "the first numeric prediction column in the job's output order" };
  }
  const names = Object.keys(preds)
    .filter((n) => hasMean(preds[n]))
    .sort();
  const pick = names.find((n) => looksFractional(preds[n]!)) ?? names[0];
  return pick === undefined
    ? undefined
    : {
        column: pick,
        why: 'the first prediction column by name with fractional values (the run did not record its output order)',
      };
}

const W = 640;
const H = 180;
const pad = { l: 56, r: 12, t: 12, b: 30 };

/**
 * One point per partition (in partition order; a point may be several shards' runs merged, its
 * run_id theirs joined with "+") of `column`'s mean; the y axis spans zero and every point.
 */
export function trendSvg(runs: readonly RunRecord[], column: string, current: string): string {
  const isCurrent = (r: RunRecord) => r.run_id.split('+').includes(current);
  const points = runs
    .map((r) => ({ r, v: r.stats?.predictions[column]?.mean }))
    .filter((p): p is { r: RunRecord; v: number } => typeof p.v === 'number');
  if (points.length === 0) return '<p class="empty">No earlier runs with statistics.</p>';
  const lo = Math.min(0, ...points.map((p) => p.v));
  let hi = Math.max(0, ...points.map((p) => p.v));
  if (hi === lo) hi = lo + 1;
  const x = (i: number) =>
    pad.l + (points.length === 1 ? (W - pad.l - pad.r) / 2 : (i / (points.length - 1)) * (W - pad.l - pad.r));
  const y = (v: number) => H - pad.b - ((v - lo) / (hi - lo)) * (H - pad.t - pad.b);
  const line = points.map((p, i) => `${px(x(i))},${px(y(p.v))}`).join(' ');
  const dots = points
    .map(
      (p, i) =>
        `<circle class="trend-point${isCurrent(p.r) ? ' current' : ''}" data-partition="${esc(p.r.partition)}" data-mean="${p.v}" cx="${px(x(i))}" cy="${px(y(p.v))}" r="${isCurrent(p.r) ? 6 : 4}"><title>${esc(p.r.partition)} (${esc(p.r.run_id)}): mean ${fmt(p.v)}, ${p.r.rows_written} rows, ${esc(p.r.status)}</title></circle>`,
    )
    .join('');
  const ticks = [...new Set([lo, 0, (lo + hi) / 2, hi])]
    .map(
      (v) =>
        `<line class="grid" x1="${pad.l}" y1="${px(y(v))}" x2="${W - pad.r}" y2="${px(y(v))}"/><text class="y-tick" data-value="${v}" x="${pad.l - 6}" y="${px(y(v) + 4)}" text-anchor="end">${fmt(v, 3)}</text>`,
    )
    .join('');
  return `<svg class="trend" data-column="${esc(column)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="trend of the mean ${esc(column)}, axis from 0">
    ${ticks}<line class="axis" x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}"/><line class="axis" x1="${pad.l}" y1="${px(y(0))}" x2="${W - pad.r}" y2="${px(y(0))}"/>
    <polyline class="trend-line" points="${line}"/>${dots}
    <text x="${px(x(0))}" y="${H - 8}" text-anchor="start">${esc(points[0]!.r.partition)}</text><text x="${px(x(points.length - 1))}" y="${H - 8}" text-anchor="end">${esc(points.at(-1)!.r.partition)}</text>
  </svg>`;
}
