import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Job } from '../config/job.js';
import { loadJob } from '../config/load-job.js';
import { UsageError, errorMessage } from '../errors.js';

export interface ScheduledJob {
  readonly file: string;
  /** The job as checked at load time (with today's ds); each tick reloads it with its own ds. */
  readonly job: Job;
  readonly schedule: string;
  readonly catchup: number;
  /** score: the job's own schedule:; evaluate: its evaluate.schedule, lag_days back. */
  readonly kind: 'score' | 'evaluate';
}

/** The name a scheduled entry goes by in logs, metrics, locks and the state file: the job's, or job:evaluate. */
export const entryName = (sj: Pick<ScheduledJob, 'job' | 'kind'>) =>
  sj.kind === 'evaluate' ? `${sj.job.name}:evaluate` : sj.job.name;

async function jobFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    const st = await stat(p).catch(() => undefined);
    if (!st) throw new UsageError(`schedule: ${p} does not exist; pass job files or directories that hold them.`);
    if (st.isDirectory()) {
      for (const name of (await readdir(p)).sort())
        if (/\.ya?ml$/.test(name) && !name.startsWith('.')) out.push(path.join(p, name));
    } else out.push(p);
  }
  return out;
}

/**
 * Loads every job file with `schedule:`, checking all of them before any runs: one bad file is
 * an error that names every bad file (exit 2). loadJob checks each file (its cron expression
 * too, as `validate` does); this adds what only a set of files can get wrong, a name used twice.
 * Files without a schedule are listed and skipped.
 */
export async function loadScheduledJobs(
  paths: readonly string[],
): Promise<{ jobs: ScheduledJob[]; unscheduled: string[] }> {
  const files = await jobFiles(paths.length > 0 ? paths : ['jobs']);
  const jobs: ScheduledJob[] = [];
  const unscheduled: string[] = [];
  const errors: string[] = [];
  for (const file of files) {
    try {
      const job = await loadJob(file);
      if (!job.schedule && !job.evaluation.schedule) {
        unscheduled.push(file);
        continue;
      }
      const dup = jobs.find((j) => j.job.name === job.name && j.file !== file);
      if (dup)
        throw new UsageError(
          `${path.basename(file)}: job name ${job.name} is also used by ${dup.file}; job names must be unique.`,
        );
      if (job.schedule) jobs.push({ file, job, schedule: job.schedule, catchup: job.catchup, kind: 'score' });
      if (job.evaluation.schedule)
        jobs.push({ file, job, schedule: job.evaluation.schedule, catchup: 0, kind: 'evaluate' });
    } catch (err) {
      errors.push(errorMessage(err));
    }
  }
  if (errors.length > 0)
    throw new UsageError(
      `schedule: ${errors.length} job file(s) are invalid; nothing was scheduled:\n${errors.map((e) => `  ${e}`).join('\n')}`,
    );
  if (jobs.length === 0)
    throw new UsageError(
      `schedule: none of ${files.length} job file(s) has a schedule:; add schedule: "0 6 * * *" to a job.`,
    );
  return { jobs, unscheduled };
}
