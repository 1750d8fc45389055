import type { QualityGate } from '../config/job.js';
import type { Evaluation } from './evaluate.js';
import type { Metrics } from './metrics.js';

/** One gate against one prediction column of the published predictions. */
export interface GateResult {
  readonly gate: string;
  readonly column: string;
  readonly value: number | null;
  readonly limit: number;
  /** passed, broken, or not checked: the metric is undefined here (one class, no labels yet). */
  readonly outcome: 'passed' | 'broken' | 'unchecked';
  readonly reason?: string;
}

/**
 * The job's quality gates against each prediction column that the gate's metric applies to
 * (min_roc_auc to a binary column, max_rmse to a regression). A metric that is undefined cannot
 * break a gate, but says so: the evaluation shows it, so an empty partition is not mistaken for a good one.
 */
export function checkGates(gates: readonly QualityGate[], e: Evaluation): GateResult[] {
  const out: GateResult[] = [];
  for (const gate of gates) {
    for (const [column, m] of Object.entries(e.metrics)) {
      if (!(gate.metric in m)) continue;
      const value = (m as unknown as Record<string, number | null>)[gate.metric] ?? null;
      if (value === null) {
        out.push({
          gate: gate.key,
          column,
          value,
          limit: gate.value,
          outcome: 'unchecked',
          reason: reasonOf(m, gate.metric),
        });
        continue;
      }
      const broken = gate.bound === 'min' ? value < gate.value : value > gate.value;
      out.push({ gate: gate.key, column, value, limit: gate.value, outcome: broken ? 'broken' : 'passed' });
    }
  }
  return out;
}

function reasonOf(m: Metrics, metric: string): string {
  return m.undefined_reasons[metric] ?? (metric === 'coverage' ? 'no predictions in the partition' : 'undefined');
}

/** One sentence for the broken gates, as the exit-3 error says it. */
export function brokenMessage(results: readonly GateResult[], partition: string): string | undefined {
  const broken = results.filter((r) => r.outcome === 'broken');
  if (broken.length === 0) return undefined;
  const parts = broken.map(
    (r) =>
      `${r.column} ${r.gate.replace(/^(min|max)_/, '')} ${fmt(r.value!)} is ${r.gate.startsWith('min_') ? 'under' : 'over'} monitor.${r.gate} ${r.limit}`,
  );
  return `quality gate: partition ${partition}: ${parts.join('; ')}; the evaluation is stored. Look at the model or its inputs, or change the bound in monitor:.`;
}

const fmt = (v: number) => String(Number(v.toPrecision(6)));
