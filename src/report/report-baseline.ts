import { chooseBaseline } from '../ledger/baseline.js';
import type { RunRecord } from '../ledger/record.js';

/**
 * The run a report compares with: the drift check's own baseline, rebuilt from its run ids (a
 * baseline merged from a partition's shards joins them with "+"), each taken from `history` or
 * looked up; for a run without a drift check, what `baseline: previous` would choose in `history`.
 */
export async function reportBaseline(
  run: RunRecord,
  history: readonly RunRecord[],
  lookup: (runId: string) => Promise<RunRecord | undefined>,
): Promise<RunRecord | undefined> {
  const ref = run.stats?.drift?.baseline_run_id;
  if (!ref) return chooseBaseline(history, run, 'previous');
  const runs: RunRecord[] = [];
  for (const id of ref.split('+')) {
    const found = history.find((r) => r.run_id === id) ?? (await lookup(id));
    if (found) runs.push(found);
  }
  return chooseBaseline(runs, run, ref);
}
