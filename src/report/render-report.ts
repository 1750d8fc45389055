import type { RunRecord } from '../ledger/record.js';
import type { Histogram } from '../stats/types.js';

/** Everything one report shows: the run, the run it is compared with, and the job's recent runs. */
export interface ReportData {
  readonly run: RunRecord;
  readonly baseline: RunRecord | undefined;
  /** Recent runs of the job, oldest first (the run itself included). */
  readonly trend: readonly RunRecord[];
}

const esc = (s: unknown) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const fmt = (n: number | null | undefined, digits = 4) =>
  n === null || n === undefined || Number.isNaN(n)
    ? '–'
    : Math.abs(n) >= 1e5
      ? n.toExponential(3)
      : Number(n.toFixed(digits)).toString();

/** Bars of the run (filled) and of the baseline (outlined) as shares of their rows, on one x scale. */
function histogramSvg(current: Histogram, baseline: Histogram | undefined, label: string): string {
  const W = 640;
  const H = 220;
  const pad = { l: 48, r: 12, t: 12, b: 36 };
  const edges = [...current.edges, ...(baseline?.edges ?? [])];
  if (current.counts.length === 0) return `<p class="empty">No values for ${esc(label)}.</p>`;
  const lo = Math.min(...edges);
  const hi = Math.max(...edges);
  const x = (v: number) => pad.l + ((v - lo) / (hi - lo || 1)) * (W - pad.l - pad.r);
  const share = (h: Histogram) => {
    const t = h.counts.reduce((a, b) => a + b, 0) || 1;
    return h.counts.map((c) => c / t);
  };
  const cur = share(current);
  const base = baseline && baseline.counts.length > 0 ? share(baseline) : [];
  const top = Math.max(...cur, ...base, 0.01);
  const y = (p: number) => H - pad.b - (p / top) * (H - pad.t - pad.b - 14); // room for the legend
  const bars = (h: Histogram, p: number[], cls: string) =>
    p
      .map((v, i) => {
        const x0 = x(h.edges[i]!);
        const x1 = x(h.edges[i + 1]!);
        return `<rect class="${cls}" x="${x0.toFixed(1)}" y="${y(v).toFixed(1)}" width="${Math.max(1, x1 - x0 - 1).toFixed(1)}" height="${(H - pad.b - y(v)).toFixed(1)}"><title>${fmt(h.edges[i])} – ${fmt(h.edges[i + 1])}: ${(v * 100).toFixed(1)}%</title></rect>`;
      })
      .join('');
  const anchors = ['start', 'middle', 'end'];
  const ticks = [lo, (lo + hi) / 2, hi]
    .map((v, i) => `<text x="${x(v).toFixed(1)}" y="${H - pad.b + 16}" text-anchor="${anchors[i]}">${fmt(v, 3)}</text>`)
    .join('');
  return `<svg class="histogram" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="histogram of ${esc(label)}">
    <line x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" class="axis"/>
    ${bars(current, cur, 'bar-current')}${baseline ? bars(baseline, base, 'bar-baseline') : ''}${ticks}
    <text x="${pad.l}" y="${pad.t + 4}" class="legend"><tspan class="legend-current">■ this run</tspan>${baseline ? ' <tspan class="legend-baseline">□ baseline</tspan>' : ''}</text>
  </svg>`;
}

/** The job's recent runs: the first prediction column's mean, one point per run. */
function trendSvg(runs: readonly RunRecord[], column: string | undefined, current: string): string {
  const points = runs
    .map((r) => ({ r, v: column ? r.stats?.predictions[column]?.mean : undefined }))
    .filter((p): p is { r: RunRecord; v: number } => typeof p.v === 'number');
  if (points.length === 0) return '<p class="empty">No earlier runs with statistics.</p>';
  const W = 640;
  const H = 180;
  const pad = { l: 48, r: 12, t: 12, b: 30 };
  const lo = Math.min(...points.map((p) => p.v));
  const hi = Math.max(...points.map((p) => p.v));
  const x = (i: number) =>
    pad.l + (points.length === 1 ? (W - pad.l - pad.r) / 2 : (i / (points.length - 1)) * (W - pad.l - pad.r));
  const y = (v: number) => H - pad.b - ((v - lo) / (hi - lo || 1)) * (H - pad.t - pad.b);
  const line = points.map((p, i) => `${x(i).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
  const dots = points
    .map(
      (p, i) =>
        `<circle class="trend-point${p.r.run_id === current ? ' current' : ''}" cx="${x(i).toFixed(1)}" cy="${y(p.v).toFixed(1)}" r="${p.r.run_id === current ? 6 : 4}"><title>${esc(p.r.partition)} (${esc(p.r.run_id)}): mean ${fmt(p.v)}, ${p.r.rows_written} rows, ${esc(p.r.status)}</title></circle>`,
    )
    .join('');
  return `<svg class="trend" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="trend of the mean ${esc(column)}">
    <line x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" class="axis"/>
    <polyline class="trend-line" points="${line}"/>${dots}
    <text x="${pad.l - 6}" y="${y(hi) + 4}" text-anchor="end">${fmt(hi, 3)}</text><text x="${pad.l - 6}" y="${y(lo) + 4}" text-anchor="end">${fmt(lo, 3)}</text>
    <text x="${x(0)}" y="${H - 8}" text-anchor="start">${esc(points[0]!.r.partition)}</text><text x="${x(points.length - 1)}" y="${H - 8}" text-anchor="end">${esc(points.at(-1)!.r.partition)}</text>
  </svg>`;
}

/** One self-contained HTML page (inline CSS and SVG, no scripts, nothing fetched). */
export function renderReport({ run, baseline, trend }: ReportData): string {
  const stats = run.stats;
  const drift = stats?.drift;
  const maxPsi = drift?.max_psi ?? 0.2;
  const predictions = Object.entries(stats?.predictions ?? {});
  const first = predictions[0]?.[0];
  const facts: [string, unknown][] = [
    ['job', run.job],
    ['run', run.run_id],
    ['partition', run.partition],
    ['shard', run.shard],
    ['status', run.status],
    ['model', `${run.model_name} version ${run.model_version}`],
    ['started', run.started_at],
    ['finished', run.finished_at ?? '–'],
    [
      'rows read / scored / rejected / written',
      `${run.rows_read} / ${run.rows_scored} / ${run.rows_rejected} / ${run.rows_written}`,
    ],
    ['baseline', baseline ? `${baseline.run_id} (partition ${baseline.partition})` : 'none'],
  ];
  if (run.error) facts.push(['error', run.error]);
  const features = Object.entries(stats?.features ?? {})
    .map(([name, f]) => ({ name, f, b: baseline?.stats?.features[name], psi: drift?.psi.features[name] }))
    .sort((a, b) => (b.psi ?? -1) - (a.psi ?? -1));
  const rows = features
    .map(
      ({ name, f, b, psi }) =>
        `<tr class="${psi !== undefined && psi > maxPsi ? 'drifted' : ''}"><td>${esc(name)}</td><td class="num">${psi === undefined ? '–' : psi.toFixed(3)}</td><td class="num">${(f.null_rate * 100).toFixed(2)}%</td><td class="num">${b ? `${(b.null_rate * 100).toFixed(2)}%` : '–'}</td><td class="num">${fmt(f.mean)}</td><td class="num">${fmt(b?.mean)}</td></tr>`,
    )
    .join('');
  const sections = predictions
    .map(([name, d]) => {
      const p = drift?.psi.predictions[name];
      return `<section class="prediction"><h3>${esc(name)}</h3>
        <p>mean ${fmt(d.mean)}, std ${fmt(d.std)}, min ${fmt(d.min)}, p50 ${fmt(d.quantiles.p50)}, max ${fmt(d.max)}${p !== undefined ? `, PSI against the baseline <b class="${p > maxPsi ? 'bad' : 'ok'}">${p.toFixed(3)}</b>` : ''}</p>
        ${histogramSvg(d.histogram, baseline?.stats?.predictions[name]?.histogram, name)}</section>`;
    })
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mlscale run ${esc(run.run_id)}: ${esc(run.job)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:980px;color:#1d2430;padding:0 16px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #d7dde5;padding-bottom:4px}h3{font-size:14px;margin:16px 0 4px}
table{border-collapse:collapse;width:100%}td,th{padding:4px 8px;border-bottom:1px solid #eef1f5;text-align:left}th{background:#f5f7fa}
.num{text-align:right;font-variant-numeric:tabular-nums}.facts td:first-child{color:#5b6676;width:260px}
.status-succeeded{color:#19734a}.status-failed{color:#b3261e}.drifted td{background:#fdecea}.bad{color:#b3261e}.ok{color:#19734a}
svg text{font-size:11px;fill:#5b6676}.axis{stroke:#9aa5b4}.bar-current{fill:#3b6fd8;opacity:.85}.bar-baseline{fill:none;stroke:#e8891c;stroke-width:2}
.legend-current{fill:#3b6fd8}.legend-baseline{fill:#e8891c}.trend-line{fill:none;stroke:#3b6fd8;stroke-width:2}.trend-point{fill:#3b6fd8}.trend-point.current{fill:#e8891c}
.empty{color:#5b6676;font-style:italic}
</style></head><body>
<h1>${esc(run.job)} — partition ${esc(run.partition)}</h1>
<p class="status-${esc(run.status)}">Run ${esc(run.run_id)} ${esc(run.status)}${drift ? `; ${drift.drifted.length === 0 ? 'no drift' : `${drift.drifted.length} column(s) drifted (PSI over ${maxPsi})`} against ${esc(drift.baseline_run_id)}` : ''}.</p>
<h2>Run</h2><table class="facts">${facts.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('')}</table>
<h2>Predictions against the baseline</h2>${sections || '<p class="empty">No numeric prediction columns.</p>'}
<h2>Feature drift, worst first</h2>
<table class="features"><thead><tr><th>feature</th><th class="num">PSI</th><th class="num">null rate</th><th class="num">baseline null rate</th><th class="num">mean</th><th class="num">baseline mean</th></tr></thead><tbody>${rows}</tbody></table>
<h2>Trend of the last ${trend.length} run(s): mean ${esc(first ?? '')}</h2>${trendSvg(trend, first, run.run_id)}
<p class="empty">Generated by mlscale at ${new Date().toISOString()}.</p>
</body></html>
`;
}
