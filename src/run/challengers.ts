import type { ChallengerSpec, Job } from '../config/job.js';
import { MlscaleError, errorMessage } from '../errors.js';
import { runJob, type RunOptions, type RunResult } from './run-job.js';

// Challengers run as runs of their own (own job name, own table or tree, own ledger rows), over
// the same source rows. Nothing they do can reach the champion's predictions, its row counts or
// its ledger row. A challenger the job requires runs before the champion, so that its failure
// fails the run before the champion publishes; the others run after it has published.

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
 * Runs the required challengers, the champion, then the other challengers, on the same
 * partition. A required challenger's failure fails the run before the champion scores (nothing
 * of it is published); any other challenger's failure is logged and returned.
 */
export async function runWithChallengers(job: Job, options: RunOptions = {}): Promise<RunWithChallengers> {
  const required = job.challengers.filter((c) => c.required);
  const before = await runChallengers(job, required, options, undefined);
  // Timed from the process start only where it is the process's first run.
  const { fromProcessStart, ...rest } = options;
  const champion = await runJob(job, required.length === 0 && fromProcessStart ? options : rest);
  const after = await runChallengers(
    job,
    job.challengers.filter((c) => !c.required),
    options,
    champion.runId,
  );
  const outcomes = [...before, ...after];
  // In the job's order, as `challengers:` lists them.
  outcomes.sort(
    (a, b) => job.challengers.findIndex((c) => c.job === a.job) - job.challengers.findIndex((c) => c.job === b.job),
  );
  return { ...champion, challengers: outcomes };
}

async function runChallengers(
  job: Job,
  challengers: readonly ChallengerSpec[],
  options: RunOptions,
  championRunId: string | undefined,
): Promise<ChallengerOutcome[]> {
  const outcomes: ChallengerOutcome[] = [];
  // Its own progress line would overwrite the champion's summary: a challenger logs, it does not draw.
  const { progress: _progress, ...quiet } = options.events ?? {};
  for (const c of challengers) {
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
      if (c.required) {
        options.events?.warn?.(
          `challenger ${c.model.name} failed: ${errorMessage(err)}; it is required, so the champion was not scored and nothing of it was published.`,
        );
        throw err;
      }
      options.events?.warn?.(
        `challenger ${c.model.name} failed: ${errorMessage(err)}; the champion's run ${championRunId} is published and unaffected.`,
      );
    }
  }
  return outcomes;
}
