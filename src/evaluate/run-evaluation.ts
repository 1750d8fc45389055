import type { Job } from '../config/job.js';
import { challengersAt } from './challengers-at.js';
import { evaluatePartition, type Evaluation } from './evaluate.js';
import { checkGates, type GateResult } from './gates.js';
import { saveEvaluation } from './store.js';

/** Evaluates the job's partition (champion and challengers), checks its gates, stores it; throws nothing for a broken gate. */
export async function evaluateAndStore(
  job: Job,
  signal?: AbortSignal,
): Promise<{ evaluation: Evaluation; gates: GateResult[]; stored: string }> {
  const evaluation = await evaluatePartition(job, { challengers: challengersAt(job), ...(signal ? { signal } : {}) });
  const gates = checkGates(job.qualityGates, evaluation);
  const stored = await saveEvaluation(job, evaluation);
  return { evaluation, gates, stored };
}

/** The ds `lagDays` days before `ds`: the partition a scheduled evaluation looks at, its labels having had time to arrive. */
export function laggedDs(ds: string, lagDays: number): string {
  return new Date(Date.parse(`${ds}T00:00:00Z`) - lagDays * 86_400_000).toISOString().slice(0, 10);
}
