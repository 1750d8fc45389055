import type { StoredQuality } from '../evaluate/store.js';
import type { RunRecord } from '../ledger/record.js';
import { qualitySection } from './quality-section.js';
import { distributionChart, distributionFacts } from './distribution-chart.js';
import { esc, fmt } from './svg.js';
import { trendColumn, trendSvg } from './trend.js';

/** Everything one report shows: the run, the run it is compared with, and the job's recent runs. */
export interface ReportData {
  readonly run: RunRecord;
  readonly baseline: RunRecord | undefined;
  /** Recent runs of the job, oldest first (the run itself included). */
  readonly trend: readonly RunRecord[];
  /** The job's stored evaluations (every partition, champion and challengers); undefined: not looked up. */
  readonly quality?: readonly StoredQuality[];
}

/** What the headline's colour says: green only for a finished run with no drifted column and no failed gate. */
export type Verdict = 'clean' | 'drifted' | 'failed' | 'running';

export function verdict(run: RunRecord): Verdict {
  if (run.status === 'failed' || run.status === 'abandoned') return 'failed';
  if ((run.stats?.drift?.drifted.length ?? 0) > 0) return 'drifted';
  return run.status === 'running' ? 'running' : 'clean';
}

function headline(run: RunRecord): string {
  const drift = run.stats?.drift;
  const v = verdict(run);
  const driftText = !drift
    ? run.status === 'succeeded'
      ? 'drift not checked (no baseline)'
      : ''
    : drift.drifted.length === 0
      ? `no drift against ${esc(drift.baseline_run_id)}`
      : `${drift.drifted.length} column(s) drifted (PSI over ${drift.max_psi}) against ${esc(drift.baseline_run_id)}: ${drift.drifted.map(esc).join(', ')}`;
  const gate = v === 'failed' && run.error ? `: ${esc(run.error)}` : '';
  return `<p class="headline verdict-${v}">Run ${esc(run.run_id)} ${esc(run.status)}${gate}${driftText ? `; ${driftText}` : ''}.</p>`;
}

/** One self-contained HTML page (inline CSS and SVG, no scripts, nothing fetched). */
export function renderReport({ run, baseline, trend, quality }: ReportData): string {
  const stats = run.stats;
  const drift = stats?.drift;
  const maxPsi = drift?.max_psi ?? 0.2;
  const preds = stats?.predictions ?? {};
  // The job's output order where the run recorded it: jsonb keeps no key order.
  const order = [...(stats?.prediction_columns ?? []), ...Object.keys(preds).sort()].filter(
    (n, i, all) => preds[n] && all.indexOf(n) === i,
  );
  const column = trendColumn(stats);
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
    [
      'baseline',
      baseline
        ? `${baseline.run_id} (partition ${baseline.partition}${baseline.run_id.includes('+') ? `, shards ${baseline.shard} merged` : ''})`
        : 'none',
    ],
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
  const sections = order
    .map((name) => {
      const d = preds[name]!;
      const p = drift?.psi.predictions[name];
      return `<section class="prediction" data-column="${esc(name)}"><h3>${esc(name)}</h3>
        <p>${distributionFacts(d)}${p !== undefined ? `, PSI against the baseline <b class="${p > maxPsi ? 'bad' : 'ok'}">${p.toFixed(3)}</b>` : ''}</p>
        ${distributionChart(d, baseline?.stats?.predictions[name], name)}</section>`;
    })
    .join('');
  const trendPart = column
    ? `<h2>Trend of the last ${trend.length} run(s): mean ${esc(column.column)}</h2>
<p class="trend-note">The mean of <b class="trend-column">${esc(column.column)}</b>, ${esc(column.why)}; the axis starts at 0.</p>${trendSvg(trend, column.column, run.run_id)}`
    : `<h2>Trend of the last ${trend.length} run(s)</h2><p class="empty">No numeric prediction column to follow.</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mlscale run ${esc(run.run_id)}: ${esc(run.job)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:980px;color:#1d2430;padding:0 16px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #d7dde5;padding-bottom:4px}h3{font-size:14px;margin:16px 0 4px}
table{border-collapse:collapse;width:100%}td,th{padding:4px 8px;border-bottom:1px solid #eef1f5;text-align:left}th{background:#f5f7fa}
.num{text-align:right;font-variant-numeric:tabular-nums}.facts td:first-child{color:#5b6676;width:260px}
.headline{padding:8px 12px;border-left:6px solid;font-weight:600}
.verdict-clean{color:#19734a;background:#e8f5ee;border-color:#19734a}.verdict-drifted{color:#8a4b00;background:#fff4e0;border-color:#e8891c}
.verdict-failed{color:#b3261e;background:#fdecea;border-color:#b3261e}.verdict-running{color:#5b6676;background:#f5f7fa;border-color:#9aa5b4}
.drifted td{background:#fdecea}.bad{color:#b3261e}.ok{color:#19734a}
svg text{font-size:11px;fill:#5b6676}.axis{stroke:#9aa5b4}.grid{stroke:#eef1f5}.bar-current{fill:#3b6fd8;opacity:.85}.bar-baseline{fill:none;stroke:#e8891c;stroke-width:2}
.legend-current{fill:#3b6fd8}.legend-baseline{fill:#e8891c}.trend-line{fill:none;stroke:#3b6fd8;stroke-width:2}.trend-point{fill:#3b6fd8}.trend-point.current{fill:#e8891c}
.empty{color:#5b6676;font-style:italic}
.quality-line{fill:none;stroke-width:2}.quality-line.series-0{stroke:#3b6fd8}.quality-line.series-1{stroke:#e8891c}.quality-line.series-2{stroke:#19734a}.quality-line.series-3{stroke:#8a3bd8}
.quality-point.series-0,.legend.series-0{fill:#3b6fd8;color:#3b6fd8}.quality-point.series-1,.legend.series-1{fill:#e8891c;color:#e8891c}.quality-point.series-2,.legend.series-2{fill:#19734a;color:#19734a}.quality-point.series-3,.legend.series-3{fill:#8a3bd8;color:#8a3bd8}
.quality-point.current{stroke:#1d2430;stroke-width:1.5}.calibration-diagonal{stroke:#9aa5b4;stroke-dasharray:4 3}.calibration-line{fill:none;stroke:#3b6fd8;stroke-width:1.5}.calibration-point{fill:#3b6fd8;opacity:.8}
.delta{color:#5b6676;font-size:12px}
</style></head><body>
<h1>${esc(run.job)} — partition ${esc(run.partition)}</h1>
${headline(run)}
<h2>Run</h2><table class="facts">${facts.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('')}</table>
<h2>Predictions against the baseline</h2>${sections || '<p class="empty">No prediction columns with statistics.</p>'}
<h2>Feature drift, worst first</h2>
<table class="features"><thead><tr><th>feature</th><th class="num">PSI</th><th class="num">null rate</th><th class="num">baseline null rate</th><th class="num">mean</th><th class="num">baseline mean</th></tr></thead><tbody>${rows}</tbody></table>
${trendPart}
${quality ? qualitySection(run, quality) : ''}
<p class="empty">Generated by mlscale at ${new Date().toISOString()}.</p>
</body></html>
`;
}
