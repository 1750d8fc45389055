import { loadJob } from '../../config/load-job.js';
import { parseParamFlags } from '../../config/template.js';
import { QualityGateError } from '../../errors.js';
import type { Evaluation } from '../../evaluate/evaluate.js';
import { brokenMessage, type GateResult } from '../../evaluate/gates.js';
import type { Metrics } from '../../evaluate/metrics.js';
import { evaluateAndStore } from '../../evaluate/run-evaluation.js';

/**
 * `mlscale evaluate`: joins the labels that have arrived with a partition's published predictions,
 * stores the metrics beside the ledger, prints them, and exits 3 when a monitor: gate is broken.
 */
export async function evaluateCommand(flags: { job: string; param: string[]; json?: boolean }): Promise<void> {
  const job = await loadJob(flags.job, { params: parseParamFlags(flags.param) });
  const { evaluation, gates, stored } = await evaluateAndStore(job);
  if (flags.json) process.stdout.write(JSON.stringify({ ...evaluation, gates, stored }, null, 2) + '\n');
  else process.stdout.write(summary(evaluation, gates, stored));
  const broken = brokenMessage(gates, evaluation.partition);
  if (broken) throw new QualityGateError(broken, { code: 'quality_gate_metric' });
}

const SHOWN: readonly (keyof Metrics)[] = [
  'coverage',
  'roc_auc',
  'pr_auc',
  'log_loss',
  'brier',
  'accuracy',
  'precision',
  'recall',
  'f1',
  'rmse',
  'mae',
  'r2',
];

function metricLine(m: Metrics): string {
  const cells = SHOWN.filter((k) => k in m).map((k) => {
    const v = m[k] as number | null;
    return `${k}=${v === null ? 'n/a' : Number(v.toPrecision(4))}`;
  });
  return `(${m.task}) n=${m.count}/${m.predictions} ${cells.join(' ')}`;
}

const signed = (v: number) => `${v >= 0 ? '+' : ''}${Number(v.toPrecision(3))}`;

function summary(e: Evaluation, gates: readonly GateResult[], stored: string): string {
  const l = e.labels;
  const lines = [
    `evaluated job ${e.job} partition ${e.partition}: ${l.rows} label rows, ${l.matched} keys scored, ${l.unscored} never scored (ignored)${l.nulls ? `, ${l.nulls} null` : ''}${l.not_yet_known ? `, ${l.not_yet_known} not yet known` : ''}${l.duplicate_predictions ? `; ${l.duplicate_predictions} published rows repeat a key already published (each is measured)` : ''}`,
    ...Object.entries(e.metrics).map(([c, m]) => `  ${c} ${metricLine(m)}`),
  ];
  const undefinedReasons = new Set(Object.values(e.metrics).flatMap((m) => Object.values(m.undefined_reasons)));
  for (const r of undefinedReasons) lines.push(`  n/a: ${r}`);
  for (const m of e.models) {
    lines.push(`  ${m.role} ${m.model_name}@${m.model_version}`);
    for (const [c, mm] of Object.entries(m.metrics)) lines.push(`    ${c} ${metricLine(mm)}`);
    for (const [c, cmp] of Object.entries(m.comparison ?? {})) {
      const deltas = Object.entries(cmp.deltas).map(
        ([k, d]) =>
          `${k} ${signed(d.delta)} [${d.ci_low === null ? '?' : signed(d.ci_low)}, ${d.ci_high === null ? '?' : signed(d.ci_high)}]`,
      );
      lines.push(
        `    ${c} vs champion on ${cmp.rows} rows: agreement=${cmp.agreement === null ? 'n/a' : Number(cmp.agreement.toPrecision(4))} psi=${cmp.psi === null ? 'n/a' : Number(cmp.psi.toPrecision(3))}; ${deltas.join(', ')}`,
      );
    }
  }
  for (const m of e.missing_challengers) lines.push(`  challenger ${m.name} not measured: ${m.reason}`);
  if (e.skipped_columns.length) lines.push(`  not measured (text): ${e.skipped_columns.join(', ')}`);
  for (const g of gates)
    lines.push(
      `  gate ${g.gate} ${g.limit} on ${g.column}: ${g.outcome}${g.value !== null ? ` (${Number(g.value.toPrecision(6))})` : ` (${g.reason})`}`,
    );
  lines.push(`  stored in ${stored}`);
  return lines.join('\n') + '\n';
}
