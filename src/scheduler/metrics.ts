import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { MlscaleError } from '../errors.js';
import { VERSION } from '../version.js';

/** Every status a scheduled run can end with; each job's series start at zero for all of them. */
export const RUN_STATUSES = ['succeeded', 'failed', 'invalid', 'quality_gate', 'locked', 'skipped'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

const BY_EXIT_CODE: Partial<Record<number, RunStatus>> = { 2: 'invalid', 3: 'quality_gate', 4: 'locked' };

/** The status a failed run is counted under: its exit code's meaning, or failed. */
export function runStatusOf(err: unknown): RunStatus {
  return (err instanceof MlscaleError ? BY_EXIT_CODE[err.exitCode] : undefined) ?? 'failed';
}

/**
 * The daemon's Prometheus metrics, in their own registry (no process-global state): mlscale's,
 * prom-client's usual process_* and nodejs_* ones, and mlscale_build_info.
 */
export class SchedulerMetrics {
  readonly registry = new Registry();
  readonly runs = new Counter({
    name: 'mlscale_runs_total',
    help: `Runs by job and final status (${RUN_STATUSES.join(', ')}).`,
    labelNames: ['job', 'status'],
    registers: [this.registry],
  });
  readonly rows = new Counter({
    name: 'mlscale_rows_scored_total',
    help: 'Rows scored by succeeded runs.',
    labelNames: ['job'],
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'mlscale_run_duration_seconds',
    help: 'Run duration.',
    labelNames: ['job'],
    buckets: [0.5, 1, 5, 15, 60, 300, 900, 3600, 14400],
    registers: [this.registry],
  });
  readonly lastSuccess = new Gauge({
    name: 'mlscale_last_success_timestamp_seconds',
    help: 'When the job last succeeded (Unix time).',
    labelNames: ['job'],
    registers: [this.registry],
  });
  readonly nextRun = new Gauge({
    name: 'mlscale_next_run_timestamp_seconds',
    help: 'When the job is next scheduled (Unix time).',
    labelNames: ['job'],
    registers: [this.registry],
  });
  readonly running = new Gauge({
    name: 'mlscale_running_runs',
    help: 'Runs in progress.',
    labelNames: ['job'],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'mlscale_build_info',
      help: 'Always 1; the labels say which mlscale and which Node.js serve these metrics.',
      labelNames: ['version', 'node'],
      registers: [this.registry],
    }).set({ version: VERSION, node: process.version }, 1);
  }

  /**
   * Creates a job's series at zero, so that a rate or an alert on, say, status="failed" can be
   * written before the first failure. mlscale_last_success_timestamp_seconds stays absent until
   * a success: a zero there would read as "last succeeded in 1970".
   */
  addJob(job: string): void {
    for (const status of RUN_STATUSES) this.runs.inc({ job, status }, 0);
    this.rows.inc({ job }, 0);
    this.running.inc({ job }, 0);
    this.duration.zero({ job });
  }
}
