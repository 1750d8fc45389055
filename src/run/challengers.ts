import type { ChallengerSpec, Job } from '../config/job.js';
import { MlscaleError, errorMessage } from '../errors.js';
import { runJob, type RunOptions, type RunResult } from './run-job.js';

// Challengers run after the champion has published, as runs of their own (own job name, own
// table or tree, own ledger rows), over the same source rows. Nothing they do can reach the
// champion's predictions, its row counts or its ledger row: those are settled before the first
// challenger starts.

/** How one challenger's run went. */
export interface ChallengerOutcome {
  readonly name: string;
  readonly version: string | null;
  readonly job: string;
  readonly status: 'succeeded' | 'failed' | 'dry-run';
  readonly runId: string | null;
  readonly rowsWritten: number;
  readonly destination: string | null;
  readonly error: string | null;
  readonly exitCode: number | null;
}

/** The champion's run and its challengers'. */
export type RunWithChallengers = RunResult & { readonly challengers: readonly ChallengerOutcome[] };

/** The job as one challenger runs it: its model alone, into its own sink, with no drift baseline or gates of the champion's. */
export function challengerJob(job: Job, c: ChallengerSpec): Job {
  // A challenger follows the champion's rows: no checkpoints of its own, and no drift check
  // against a baseline (its predictions are compared with the champion's by evaluate instead).
  const {
    monitor: _monitor,
    rejects: _rejects,
    labels: _labels,
    schedule: _schedule,
    checkpointRows: _checkpointRows,
    ...rest
  } = job;
  return Object.freeze({
    ...rest,
    name: c.job,
    models: [c.model],
    combine: { mode: 'single' } as const,
    challengers: [],
    qualityGates: [],
    sink: c.sink,
  });
}

/**
 * Runs the champion, then each challenger on the same partition. A challenger's failure is
 * logged and returned, and thrown only where it is `required` (after every challenger ran).
 */
export async function runWithChallengers(job: Job, options: RunOptions = {}): Promise<RunWithChallengers> {
  const champion = await runJob(job, options);
  const outcomes: ChallengerOutcome[] = [];
  // Its own progress line would overwrite the champion's summary: a challenger logs, it does not draw.
  const { progress: _progress, ...quiet } = options.events ?? {};
  let requiredFailure: unknown;
  for (const c of job.challengers) {
    if (options.signal?.aborted) break;
    try {
      const r = await runJob(challengerJob(job, c), {
        ...(options.dryRun ? { dryRun: true } : {}),
        ...(options.limit !== undefined ? { limit: options.limit, allowPartial: options.allowPartial ?? false } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        events: quiet,
      });
      outcomes.push({
        name: c.model.name,
        version: r.model.version,
        job: c.job,
        status: r.status,
        runId: r.runId,
        rowsWritten: r.rowsWritten,
        destination: r.destination,
        error: null,
        exitCode: null,
      });
    } catch (err) {
      const exitCode = err instanceof MlscaleError ? err.exitCode : 1;
      outcomes.push({
        name: c.model.name,
        version: c.model.version ?? null,
        job: c.job,
        status: 'failed',
        runId: err instanceof MlscaleError ? (err.runId ?? null) : null,
        rowsWritten: 0,
        destination: null,
        error: errorMessage(err),
        exitCode,
      });
      options.events?.warn?.(
        `challenger ${c.model.name} failed: ${errorMessage(err)}; the champion's run ${champion.runId} is published and unaffected${c.required ? ' (the challenger is required: the command fails)' : ''}.`,
      );
      if (c.required && requiredFailure === undefined) requiredFailure = err;
    }
  }
  if (requiredFailure !== undefined) throw requiredFailure;
  return { ...champion, challengers: outcomes };
}
