import type { RunRecord } from '../ledger/record.js';
import type { Metrics } from './metrics.js';
import type { StoredQuality } from './store.js';

/** What `runs` shows of a run's evaluation: the latest one that measured the rows this run published. */
export interface RunQuality {
  readonly evaluated_at: string;
  readonly model_name: string;
  readonly model_version: string;
  readonly labels: StoredQuality['labels'];
  readonly metrics: Readonly<Record<string, Metrics>>;
}

/**
 * Each run with its quality: the stored evaluation of its job (or, for a challenger's run, of its
 * champion's job) and partition that names its run id (an evaluation made before a re-score names the replaced run, so it no longer shows),
 * preferring the run's own model version; null where none was made.
 */
export function attachQuality<R extends RunRecord>(
  runs: readonly R[],
  stored: readonly StoredQuality[],
): (R & { quality: RunQuality | null })[] {
  return runs.map((r) => {
    // A challenger's run is recorded under its own job name; its evaluation, under the champion's.
    const mine = stored.filter(
      (q) =>
        (q.role === 'champion' ? q.job === r.job : r.job.startsWith(`${q.job}_challenger_`)) &&
        q.partition === r.partition &&
        q.run_ids.includes(r.run_id),
    );
    const q = mine.find((x) => x.model_name === r.model_name && x.model_version === r.model_version) ?? mine[0];
    return {
      ...r,
      quality: q
        ? {
            evaluated_at: q.evaluated_at,
            model_name: q.model_name,
            model_version: q.model_version,
            labels: q.labels,
            metrics: inColumnOrder(q.metrics, r.stats?.prediction_columns),
          }
        : null,
    };
  });
}

/**
 * Metrics in the job's declared output order: a Postgres jsonb object keeps its keys sorted, so
 * the stored order alone would put `label` before `score`. Columns the run does not list keep
 * their place after the listed ones.
 */
export function inColumnOrder<M>(
  metrics: Readonly<Record<string, M>>,
  order: readonly string[] | undefined,
): Record<string, M> {
  const keys = Object.keys(metrics);
  const rank = (k: string) => {
    const i = order?.indexOf(k) ?? -1;
    return i < 0 ? Number.MAX_SAFE_INTEGER : i;
  };
  return Object.fromEntries([...keys].sort((a, b) => rank(a) - rank(b)).map((k) => [k, metrics[k]!]));
}

/** One cell for the runs table: the first prediction column's ROC AUC (binary) or RMSE (regression). */
export function headline(q: RunQuality | null): string {
  if (!q) return '-';
  for (const [column, m] of Object.entries(q.metrics)) {
    const [name, value] = m.task === 'binary' ? ['roc_auc', m.roc_auc] : ['rmse', m.rmse];
    if (value !== null && value !== undefined) return `${column}:${name}=${value.toFixed(3)}`;
  }
  return 'n/a';
}
