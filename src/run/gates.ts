import type { Job } from '../config/job.js';
import { QualityGateError, UsageError } from '../errors.js';
import { describeBaseline } from '../ledger/baseline.js';
import type { RunRecord } from '../ledger/record.js';
import type { StatsCollector } from '../stats/collector.js';

// The checks that stand between a scored run and its publish: a run that fails one exits 3
// and publishes nothing.

/** Rejected rows (missing features, no route) over max_reject_rate fail the run. */
export function checkRejectRate(rowsRead: number, rowsRejected: number, maxRejectRate: number): void {
  const rate = rowsRead === 0 ? 0 : rowsRejected / rowsRead;
  if (rate <= maxRejectRate) return;
  throw new QualityGateError(
    `quality gate: ${rowsRejected} of ${rowsRead} rows (${(rate * 100).toFixed(2)}%) were rejected (missing feature values, no route or non-finite predictions), over max_reject_rate ${maxRejectRate}; nothing was published. Fix the data, or raise max_reject_rate.`,
    { code: 'reject_rate' },
  );
}

/** What a partition holds now, as the sink reports it. */
type Published = { readonly runIds: readonly string[]; readonly rows: number } | undefined;

/** A run that wrote no rows does not replace a partition that holds rows, unless allow_empty says so. */
export function checkEmptyRun(partition: string, published: Published): void {
  if (!published || published.rows === 0) return;
  throw new QualityGateError(
    `empty result: this run wrote no rows, and partition ${partition} holds ${published.rows} rows (run ${published.runIds.join(', ')}); nothing was published. Check the source, or set allow_empty: true to publish an empty partition.`,
    { code: 'empty_result' },
  );
}

/** A --limit trial does not replace a partition that holds rows, unless --allow-partial says so. */
export function checkPartialRun(limit: number, partition: string, published: Published): void {
  if (!published || published.rows === 0) return;
  throw new UsageError(
    `--limit ${limit}: partition ${partition} holds ${published.rows} rows (run ${published.runIds.join(', ')}), which a trial of at most ${limit} rows would replace; nothing was scored. Use --dry-run to try the job, or --allow-partial to replace the partition.`,
    { code: 'partial_run' },
  );
}

/**
 * Compares this run with its baseline (PSI per column; a merged baseline's run_id joins its runs'
 * ids with "+") and records the result in `record.stats`, where the report reads it; under
 * on_drift: fail a drifted column fails the run, under warn it is logged.
 */
export function checkDrift(
  monitor: NonNullable<Job['monitor']>,
  base: RunRecord | undefined,
  stats: StatsCollector,
  record: RunRecord,
  warn: (message: string) => void,
): void {
  if (!base?.stats) {
    if (monitor.baseline !== 'previous') {
      throw new UsageError(
        `monitor.baseline: run ${monitor.baseline} was not found (or has no stats) next to this job's output; use previous or an existing run id.`,
        { code: 'baseline_missing' },
      );
    }
    warn('monitor: no earlier succeeded run of this job to compare with; drift not checked this time.');
    return;
  }
  const drift = stats.drift(base.stats, base.run_id, monitor.maxPsi);
  record.stats = { ...record.stats!, drift };
  if (Object.keys(drift.psi.predictions).length + Object.keys(drift.psi.features).length === 0)
    warn(`monitor: ${describeBaseline(base)} has no values to compare with; drift not checked this time.`);
  if (drift.drifted.length === 0) return;
  const worst = drift.drifted
    .map((c) => `${c} ${(drift.psi.predictions[c] ?? drift.psi.features[c]!).toFixed(3)}`)
    .join(', ');
  const message = `drift: PSI over max_psi ${monitor.maxPsi} against ${describeBaseline(base)} for ${worst}`;
  if (monitor.onDrift === 'fail')
    throw new QualityGateError(`${message}; nothing was published. Check the inputs, or set monitor.on_drift: warn.`, {
      code: 'drift',
    });
  warn(`${message}.`);
}
