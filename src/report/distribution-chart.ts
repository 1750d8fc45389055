import { MAX_CATEGORIES, sortCategories } from '../stats/categories.js';
import { commonEdges, rebin } from '../stats/grid.js';
import type { Distribution } from '../stats/types.js';
import { esc, fmt, px } from './svg.js';

// One prediction column drawn against its baseline: the run's bars filled, the baseline's
// outlined, both as shares of their rows and on the same bins, so each outline sits over the bar
// it compares with. Classes of a label get one bar each; numbers share one grid of edges.

const W = 640;
const H = 220;
const pad = { l: 48, r: 12, t: 12, b: 36 };

/** One bar position (pixels) with its hover text, and the two shares drawn there. */
interface Slot {
  readonly x0: number;
  readonly x1: number;
  readonly title: string;
  readonly current: number;
  readonly baseline: number | undefined;
}

const shares = (counts: readonly number[]) => {
  const total = counts.reduce((a, b) => a + b, 0) || 1;
  return counts.map((c) => c / total);
};

function svg(slots: readonly Slot[], ticks: string, label: string, kind: string, withBaseline: boolean): string {
  const top = Math.max(0.01, ...slots.flatMap((s) => [s.current, s.baseline ?? 0]));
  const y = (p: number) => H - pad.b - (p / top) * (H - pad.t - pad.b - 14); // room for the legend
  const bar = (s: Slot, v: number, cls: string) =>
    `<rect class="${cls}" x="${px(s.x0)}" y="${px(y(v))}" width="${px(Math.max(1, s.x1 - s.x0 - 1))}" height="${px(H - pad.b - y(v))}"><title>${esc(s.title)}: ${(v * 100).toFixed(1)}%</title></rect>`;
  return `<svg class="histogram ${kind}" data-column="${esc(label)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${kind === 'classes' ? 'class shares' : 'histogram'} of ${esc(label)}">
    <line x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" class="axis"/>
    ${slots.map((s) => bar(s, s.current, 'bar-current')).join('')}${withBaseline ? slots.map((s) => bar(s, s.baseline ?? 0, 'bar-baseline')).join('') : ''}${ticks}
    <text x="${pad.l}" y="${pad.t + 4}" class="legend"><tspan class="legend-current">■ this run</tspan>${withBaseline ? ' <tspan class="legend-baseline">□ baseline</tspan>' : ''}</text>
  </svg>`;
}

/** One bar per class, in class order, the baseline's classes included (a class gone today shows as an empty bar). */
function classesSvg(current: Record<string, number>, baseline: Record<string, number> | undefined, label: string) {
  const names = sortCategories([...Object.keys(current), ...Object.keys(baseline ?? {})]);
  const cur = shares(names.map((k) => current[k] ?? 0));
  const base = baseline && shares(names.map((k) => baseline[k] ?? 0));
  const step = (W - pad.l - pad.r) / names.length;
  const slots = names.map((name, i) => ({
    x0: pad.l + i * step + step * 0.15,
    x1: pad.l + (i + 1) * step - step * 0.15,
    title: `${label} = ${name}`,
    current: cur[i]!,
    baseline: base?.[i],
  }));
  const ticks = slots
    .map(
      (s, i) =>
        `<text class="class-tick" x="${px((s.x0 + s.x1) / 2)}" y="${H - pad.b + 16}" text-anchor="middle">${esc(names[i]!.length > 12 ? `${names[i]!.slice(0, 11)}…` : names[i])}</text>`,
    )
    .join('');
  return svg(slots, ticks, label, 'classes', base !== undefined);
}

/** Bins of the run and of the baseline re-binned on one grid that covers both (exact for grid histograms: see stats/grid.ts). */
function binsSvg(current: Distribution, baseline: Distribution | undefined, label: string) {
  const other = baseline && baseline.histogram.counts.length > 0 ? baseline.histogram : undefined;
  const edges = other ? commonEdges([current.histogram, other]) : current.histogram.edges;
  const cur = shares(other ? rebin(current.histogram, edges) : current.histogram.counts);
  const base = other && shares(rebin(other, edges));
  const lo = edges[0]!;
  const hi = edges.at(-1)!;
  const x = (v: number) => pad.l + ((v - lo) / (hi - lo || 1)) * (W - pad.l - pad.r);
  const slots = cur.map((v, i) => ({
    x0: x(edges[i]!),
    x1: x(edges[i + 1]!),
    title: `${fmt(edges[i])} – ${fmt(edges[i + 1])}`,
    current: v,
    baseline: base?.[i],
  }));
  const anchors = ['start', 'middle', 'end'];
  const ticks = [lo, (lo + hi) / 2, hi]
    .map((v, i) => `<text x="${px(x(v))}" y="${H - pad.b + 16}" text-anchor="${anchors[i]}">${fmt(v, 3)}</text>`)
    .join('');
  return svg(slots, ticks, label, 'bins', base !== undefined);
}

/**
 * The chart of one prediction column: class bars when the run counted classes (and the baseline
 * did too, or there is no baseline), else histograms on common bins.
 */
export function distributionChart(current: Distribution, baseline: Distribution | undefined, label: string): string {
  if (current.categories && (!baseline || baseline.categories))
    return classesSvg(current.categories, baseline?.categories, label);
  if (current.histogram.counts.length === 0)
    return `<p class="empty">No chart for ${esc(label)}: ${current.kind === 'text' ? `more than ${MAX_CATEGORIES} distinct values` : 'no values'}.</p>`;
  return binsSvg(current, baseline, label);
}

/** The line of figures above a chart. */
export function distributionFacts(d: Distribution): string {
  if (d.categories) {
    const total = Object.values(d.categories).reduce((a, b) => a + b, 0) || 1;
    const classes = sortCategories(Object.keys(d.categories));
    return `${classes.length} class(es): ${classes.map((k) => `${esc(k)} ${((d.categories![k]! / total) * 100).toFixed(1)}%`).join(', ')}`;
  }
  if (d.mean === null) return `${d.count} values`;
  return `mean ${fmt(d.mean)}, std ${fmt(d.std)}, min ${fmt(d.min)}, p50 ${fmt(d.quantiles.p50)}, max ${fmt(d.max)}`;
}
