import type { Metrics } from '../evaluate/metrics.js';
import type { StoredQuality } from '../evaluate/store.js';
import type { RunRecord } from '../ledger/record.js';
import { esc, fmt, px } from './svg.js';
import { inColumnOrder } from '../evaluate/run-quality.js';

// The report's model-quality part: how good each partition's predictions were once labels
// arrived (stored by `mlscale evaluate`), per model version, champion and challengers side by side.

const W = 640;
const H = 200;
const pad = { l: 56, r: 12, t: 12, b: 30 };

const BINARY = ['roc_auc', 'pr_auc', 'log_loss', 'brier', 'accuracy', 'precision', 'recall', 'f1'] as const;
const REGRESSION = ['rmse', 'mae', 'r2'] as const;

/** The metric a column's trend follows: ROC AUC for a binary outcome, RMSE for a regression. */
const trendMetric = (m: Metrics) => (m.task === 'binary' ? 'roc_auc' : 'rmse');
const seriesName = (q: StoredQuality) =>
  `${q.role === 'challenger' ? 'challenger ' : ''}${q.model_name}@${q.model_version}`;
const value = (m: Metrics | undefined, k: string) =>
  m ? ((m as unknown as Record<string, number | null | undefined>)[k] ?? null) : null;

/** The section: the partition of `run` against its labels, and every evaluated partition of its job as a trend. */
export function qualitySection(run: RunRecord, stored: readonly StoredQuality[]): string {
  const mine = stored.filter((q) => q.job === run.job);
  const head = '<h2>Model quality against labels</h2>';
  if (mine.length === 0)
    return `${head}<p class="empty quality-none">No evaluation of job ${esc(run.job)} yet: once labels have arrived, run mlscale evaluate --job JOB_FILE --param ds=… for a partition.</p>`;
  const here = mine.filter((q) => q.partition === run.partition);
  const champion =
    here.find(
      (q) => q.role === 'champion' && q.model_name === run.model_name && q.model_version === run.model_version,
    ) ?? here.find((q) => q.role === 'champion');
  const columns = Object.keys(
    inColumnOrder(
      Object.fromEntries(mine.flatMap((q) => Object.keys(q.metrics)).map((c) => [c, c])),
      run.stats?.prediction_columns,
    ),
  );
  const parts = columns.map((column) => {
    const sample = (champion ?? mine.find((q) => q.metrics[column]))!.metrics[column]!;
    return `<section class="quality" data-column="${esc(column)}"><h3>${esc(column)} (${esc(sample.task)})</h3>
      ${here.length ? partitionTable(here, column, champion) : `<p class="empty">Partition ${esc(run.partition)} is not evaluated yet.</p>`}
      ${comparisonTable(here, column)}
      ${trendChart(mine, column, trendMetric(sample), run.partition)}
      ${champion?.metrics[column]?.calibration ? calibrationChart(champion.metrics[column]!, column) : ''}</section>`;
  });
  const l = champion?.labels;
  const note = l
    ? `<p class="quality-labels">Partition ${esc(run.partition)} evaluated at ${esc(champion!.evaluated_at)}: ${l.matched} labelled keys scored, ${l.unscored} labels for keys never scored (ignored), ${l.nulls} null.</p>`
    : '';
  return `${head}${note}${parts.join('')}`;
}

function partitionTable(here: readonly StoredQuality[], column: string, champion: StoredQuality | undefined): string {
  const task = here.find((q) => q.metrics[column])?.metrics[column]?.task ?? 'binary';
  const keys = ['count', 'coverage', ...(task === 'binary' ? BINARY : REGRESSION)];
  const base = champion?.metrics[column];
  const rows = here
    .filter((q) => q.metrics[column])
    .map((q) => {
      const m = q.metrics[column]!;
      const cells = keys.map((k) => {
        const v = value(m, k);
        const b = value(base, k);
        const delta =
          q !== champion && v !== null && b !== null && !['count', 'coverage'].includes(k)
            ? `<span class="delta" data-metric="${k}" data-delta="${v - b}"> (${v - b >= 0 ? '+' : ''}${fmt(v - b)})</span>`
            : '';
        const why = v === null ? m.undefined_reasons[k] : undefined;
        return `<td class="num" data-metric="${k}" data-value="${v ?? ''}"${why ? ` title="${esc(why)}"` : ''}>${v === null ? 'n/a' : fmt(v)}${delta}</td>`;
      });
      return `<tr data-role="${q.role}" data-model="${esc(`${q.model_name}@${q.model_version}`)}"><td>${esc(seriesName(q))}</td>${cells.join('')}</tr>`;
    });
  return `<table class="quality-metrics"><thead><tr><th>model</th>${keys.map((k) => `<th class="num">${k}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** Each challenger against the champion: deltas with their bootstrap interval, agreement and PSI. */
function comparisonTable(here: readonly StoredQuality[], column: string): string {
  const rows = here
    .filter((q) => q.role === 'challenger' && q.comparison?.[column])
    .map((q) => {
      const c = q.comparison![column]!;
      const deltas = Object.entries(c.deltas)
        .map(
          ([k, d]) =>
            `<span class="ci" data-metric="${k}" data-delta="${d.delta}" data-low="${d.ci_low ?? ''}" data-high="${d.ci_high ?? ''}">${k} ${d.delta >= 0 ? '+' : ''}${fmt(d.delta)} [${fmt(d.ci_low)}, ${fmt(d.ci_high)}]</span>`,
        )
        .join('<br>');
      return `<tr data-model="${esc(`${q.model_name}@${q.model_version}`)}"><td>${esc(seriesName(q))}</td><td class="num" data-agreement="${c.agreement ?? ''}">${c.agreement === null ? 'n/a' : `${fmt(c.agreement * 100, 2)}%`}</td><td class="num" data-psi="${c.psi ?? ''}">${fmt(c.psi, 4)}</td><td class="num">${c.rows} / ${c.labelled}</td><td>${deltas}</td></tr>`;
    });
  if (rows.length === 0) return '';
  const b = here.find((q) => q.comparison?.[column])!.comparison![column]!.bootstrap;
  return `<table class="challengers"><thead><tr><th>challenger</th><th class="num">agreement</th><th class="num">PSI vs champion</th><th class="num">rows / labelled</th><th>delta (challenger − champion) [${fmt(b.confidence * 100, 0)}% bootstrap interval, ${b.replicates} resamples, seed ${b.seed}]</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** One line per model version (and challenger) over the partitions evaluated, in partition order. */
function trendChart(mine: readonly StoredQuality[], column: string, metric: string, current: string): string {
  const partitions = [...new Set(mine.map((q) => q.partition))].sort();
  const series = new Map<string, { p: string; v: number }[]>();
  for (const q of mine) {
    const v = value(q.metrics[column], metric);
    if (v === null) continue;
    const s = series.get(seriesName(q)) ?? [];
    s.push({ p: q.partition, v });
    series.set(seriesName(q), s);
  }
  if (series.size === 0) return `<p class="empty">No partition has a ${esc(metric)} for ${esc(column)} yet.</p>`;
  const all = [...series.values()].flat().map((x) => x.v);
  // AUC lives in [0, 1]: that axis keeps 0.70 and 0.75 in proportion. An error metric starts at 0.
  const lo = metric === 'roc_auc' ? 0 : Math.min(0, ...all);
  let hi = metric === 'roc_auc' ? 1 : Math.max(...all);
  if (hi === lo) hi = lo + 1;
  const x = (p: string) => {
    const i = partitions.indexOf(p);
    return (
      pad.l + (partitions.length === 1 ? (W - pad.l - pad.r) / 2 : (i / (partitions.length - 1)) * (W - pad.l - pad.r))
    );
  };
  const y = (v: number) => H - pad.b - ((v - lo) / (hi - lo)) * (H - pad.t - pad.b);
  const lines = [...series.entries()]
    .map(([name, pts], k) => {
      pts.sort((a, b) => (a.p < b.p ? -1 : 1));
      const dots = pts
        .map(
          (pt) =>
            `<circle class="quality-point series-${k}${pt.p === current ? ' current' : ''}" data-series="${esc(name)}" data-partition="${esc(pt.p)}" data-value="${pt.v}" cx="${px(x(pt.p))}" cy="${px(y(pt.v))}" r="${pt.p === current ? 6 : 4}"><title>${esc(name)}, ${esc(pt.p)}: ${metric} ${fmt(pt.v)}</title></circle>`,
        )
        .join('');
      return `<polyline class="quality-line series-${k}" data-series="${esc(name)}" points="${pts.map((pt) => `${px(x(pt.p))},${px(y(pt.v))}`).join(' ')}"/>${dots}`;
    })
    .join('');
  const legend = [...series.keys()]
    .map((name, k) => `<span class="legend series-${k}">■ ${esc(name)}</span>`)
    .join(' ');
  const ticks = [lo, (lo + hi) / 2, hi]
    .map(
      (v) =>
        `<line class="grid" x1="${pad.l}" y1="${px(y(v))}" x2="${W - pad.r}" y2="${px(y(v))}"/><text class="y-tick" data-value="${v}" x="${pad.l - 6}" y="${px(y(v) + 4)}" text-anchor="end">${fmt(v, 3)}</text>`,
    )
    .join('');
  return `<p class="quality-trend-note">${esc(metric)} of ${esc(column)} per partition: ${legend}</p>
  <svg class="quality-trend" data-column="${esc(column)}" data-metric="${metric}" data-lo="${lo}" data-hi="${hi}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(metric)} of ${esc(column)} per partition">
    ${ticks}<line class="axis" x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}"/>${lines}
    <text x="${px(x(partitions[0]!))}" y="${H - 8}" text-anchor="start">${esc(partitions[0]!)}</text><text x="${px(x(partitions.at(-1)!))}" y="${H - 8}" text-anchor="end">${esc(partitions.at(-1)!)}</text>
  </svg>`;
}

const C = 260;
const cpad = 36;

/** Mean score against the share of positives in each of the ten bins; a calibrated model sits on the diagonal. */
function calibrationChart(m: Metrics, column: string): string {
  const s = (v: number) => cpad + v * (C - 2 * cpad);
  const yv = (v: number) => C - cpad - v * (C - 2 * cpad);
  const bins = m.calibration!.filter((b) => b.count > 0);
  const max = Math.max(...bins.map((b) => b.count), 1);
  const dots = bins
    .map(
      (b) =>
        `<circle class="calibration-point" data-mean-score="${b.mean_score}" data-positive-rate="${b.positive_rate}" data-count="${b.count}" cx="${px(s(b.mean_score!))}" cy="${px(yv(b.positive_rate!))}" r="${px(3 + 5 * Math.sqrt(b.count / max))}"><title>scores ${b.lower}–${b.upper}: mean ${fmt(b.mean_score)}, ${fmt((b.positive_rate ?? 0) * 100, 1)}% positive, ${b.count} rows</title></circle>`,
    )
    .join('');
  const line = bins.map((b) => `${px(s(b.mean_score!))},${px(yv(b.positive_rate!))}`).join(' ');
  return `<svg class="calibration" data-column="${esc(column)}" viewBox="0 0 ${C} ${C}" width="${C}" height="${C}" role="img" aria-label="calibration of ${esc(column)}">
    <line class="axis" x1="${cpad}" y1="${C - cpad}" x2="${C - cpad}" y2="${C - cpad}"/><line class="axis" x1="${cpad}" y1="${cpad}" x2="${cpad}" y2="${C - cpad}"/>
    <line class="calibration-diagonal" x1="${s(0)}" y1="${yv(0)}" x2="${s(1)}" y2="${yv(1)}"/>
    <polyline class="calibration-line" points="${line}"/>${dots}
    <text x="${C / 2}" y="${C - 8}" text-anchor="middle">mean score</text><text x="12" y="${C / 2}" transform="rotate(-90 12 ${C / 2})" text-anchor="middle">share positive</text>
  </svg>`;
}
