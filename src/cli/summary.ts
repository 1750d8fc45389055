import { availableParallelism } from 'node:os';
import type { RunResult } from '../run/run-job.js';
import type { Distribution, StageTimings } from '../stats/types.js';

function num(n: number | null): string {
  if (n === null) return '-';
  return Math.abs(n) >= 1e5 || (Math.abs(n) < 1e-3 && n !== 0) ? n.toExponential(3) : Number(n.toFixed(4)).toString();
}

/** A small text histogram: one line per bin, bars scaled to the fullest bin. */
export function histogram(d: Distribution, width = 30): string[] {
  const { edges, counts } = d.histogram;
  if (counts.length === 0) return ['  (no numeric values)'];
  const max = Math.max(...counts, 1);
  return counts.map(
    (c, i) =>
      `  ${num(edges[i]!).padStart(10)} .. ${num(edges[i + 1]!).padEnd(10)} ${'#'.repeat(Math.round((c / max) * width)).padEnd(width)} ${c}`,
  );
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** Where a run's time went, in one line: the stages of the main thread, then the workers' inference. */
export function formatTimings(t: StageTimings): string {
  return [
    `first chunk at ${seconds(t.start_ms)}`,
    `read ${seconds(t.read_ms)}`,
    `tensors ${seconds(t.tensors_ms)}`,
    `stats ${seconds(t.stats_ms)}`,
    `write ${seconds(t.write_ms)}`,
    `waiting for inference ${seconds(t.wait_ms)}`,
    `publish ${seconds(t.publish_ms)}`,
    `inference ${seconds(t.inference_ms)} (in ${t.workers === undefined ? 'the workers' : `${t.workers} worker${t.workers === 1 ? '' : 's'}`})`,
    ...(t.parquet_ms ? [`Parquet ${seconds(t.parquet_ms)} (decoding and encoding, on its own thread)`] : []),
    ...(t.cpu_ms !== undefined
      ? [`CPU ${seconds(t.cpu_ms)} from the first chunk on (${t.cpu_cores} of ${availableParallelism()} cores busy)`]
      : []),
  ].join(', ');
}

/** The human summary printed on stdout after a run. */
export function formatSummary(r: RunResult): string {
  const lines = [
    `${r.status === 'dry-run' ? 'dry run of' : 'scored'} job ${r.job}, partition ${r.partition}, run ${r.runId}`,
    `  model        ${r.model.name} version ${r.model.version}`,
    `  rows         read ${r.rowsRead}, scored ${r.rowsScored}, rejected ${r.rowsRejected}${r.rowsFilled ? `, null values filled ${r.rowsFilled}` : ''}, written ${r.rowsWritten}`,
    `  duration     ${(r.durationMs / 1000).toFixed(2)} s, ${Math.round(r.rowsPerSecond).toLocaleString('en-US')} rows/s, peak memory ${r.peakRssMb} MB`,
    `  time         ${formatTimings(r.timings)}`,
    `  predictions  ${r.destination}`,
  ];
  const first = Object.entries(r.stats.predictions)[0];
  if (first) {
    const [name, d] = first;
    lines.push(
      `  ${name}: mean ${num(d.mean)}, std ${num(d.std)}, min ${num(d.min)}, p50 ${num(d.quantiles.p50 ?? null)}, max ${num(d.max)}`,
    );
    lines.push(...histogram(d));
  }
  const drift = r.stats.drift;
  if (drift) {
    const all = { ...drift.psi.predictions, ...drift.psi.features };
    const top = Object.entries(all)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([k, v]) => `${k} ${v.toFixed(3)}`)
      .join(', ');
    lines.push(
      top === ''
        ? `  drift        vs run ${drift.baseline_run_id}: not checked (the baseline has no values)`
        : `  drift        vs run ${drift.baseline_run_id}: ${drift.drifted.length === 0 ? 'none' : `${drift.drifted.length} column(s) over ${drift.max_psi}`} (highest PSI: ${top})`,
    );
  }
  return lines.join('\n');
}
