import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The daemon's Prometheus metrics, in their own registry (no process-global state). */
export class SchedulerMetrics {
  readonly registry = new Registry();
  readonly runs = new Counter({
    name: 'mlscale_runs_total',
    help: 'Runs by job and final status (succeeded, failed, quality_gate, locked, skipped).',
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
}
