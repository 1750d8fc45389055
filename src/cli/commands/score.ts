import { loadJob } from '../../config/load-job.js';
import { parseParamFlags, parseShard } from '../../config/template.js';
import type { ChallengerOutcome } from '../../run/challengers.js';
import { ScorerPool } from '../../scoring/scorer-pool.js';
import {
  dropEarlyParquetThread,
  stopParquetThreadIfUnused,
  usesParquetThread,
  warmParquetThread,
} from '../../parquet-thread.js';
import { createLogger, type LogFormat } from '../../logger.js';
import { fatalText } from '../fatal.js';
import { onStopRequest } from '../stop-hook.js';
import { formatSummary } from '../summary.js';

export interface ScoreFlags {
  job: string;
  param: string[];
  parallelism?: number;
  batchSize?: number;
  limit?: number;
  dryRun?: boolean;
  allowPartial?: boolean;
  shard?: string;
  /** true: wait for as long as it takes; a number: at most that many seconds. */
  wait?: boolean | number;
  resume?: boolean;
  runId?: string;
  logFormat?: LogFormat;
  progress: boolean;
  json?: boolean;
}

/** One line per challenger under the champion's summary. */
function challengerLines(outcomes: readonly ChallengerOutcome[]): string {
  return outcomes
    .map((c) =>
      c.status === 'failed'
        ? `\nchallenger ${c.name} failed: ${c.error}`
        : `\nchallenger ${c.name}@${c.version} ${c.status}: ${c.rowsWritten} rows to ${c.destination} (run ${c.runId})`,
    )
    .join('');
}

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/** `mlscale score`: runs the job; SIGINT/SIGTERM roll the run back and exit 130/143. */
export async function scoreCommand(flags: ScoreFlags): Promise<void> {
  const log = createLogger(flags.logFormat, { progress: flags.progress });
  const controller = new AbortController();
  let caught: string | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (caught) return;
    caught = sig;
    log.warn(`received ${sig}: stopping the run; nothing will be published`);
    controller.abort(new Error(`received ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A closed stderr (main.ts) stops the run as a signal would, without the signal's exit code.
  const stopHook = onStopRequest((reason) => controller.abort(reason));
  // The first scoring worker starts before the job is read: its start and onnxruntime's load
  // overlap the job's loading and the run's own modules, and the Parquet thread starts (and
  // compiles parquet-wasm) as soon as the job turns out to use it (the first chunk came about
  // 0.1 s later when each waited for what needed it).
  const pool = new ScorerPool();
  try {
    const job = await loadJob(flags.job, {
      params: parseParamFlags(flags.param),
      ...(flags.batchSize !== undefined ? { batchSize: flags.batchSize } : {}),
      ...(flags.parallelism !== undefined ? { parallelism: flags.parallelism } : {}),
      shard: parseShard(flags.shard),
    });
    if (usesParquetThread(job, flags.dryRun === true)) warmParquetThread();
    else dropEarlyParquetThread();
    const { runWithChallengers } = await import('../../run/challengers.js');
    const result = await runWithChallengers(job, {
      pool,
      fromProcessStart: true,
      ...(flags.runId !== undefined ? { runId: flags.runId } : {}),
      ...(flags.limit !== undefined ? { limit: flags.limit } : {}),
      ...(flags.dryRun ? { dryRun: true } : {}),
      ...(flags.allowPartial ? { allowPartial: true } : {}),
      ...(flags.wait !== undefined ? { wait: true } : {}),
      ...(typeof flags.wait === 'number' ? { waitTimeoutMs: flags.wait * 1000 } : {}),
      ...(flags.resume ? { resume: true } : {}),
      signal: controller.signal,
      events: log,
    });
    log.done();
    // Past the commit point a signal cannot undo the publish: say so, and report the success.
    if (caught) log.warn(`${caught} arrived after the run published; it completed.`);
    log.info('run finished', {
      run_id: result.runId,
      rows_read: result.rowsRead,
      rows_written: result.rowsWritten,
      duration_ms: result.durationMs,
    });
    process.stdout.write(
      (flags.json ? JSON.stringify(result, null, 2) : formatSummary(result) + challengerLines(result.challengers)) +
        '\n',
    );
  } catch (err) {
    log.done();
    if (caught) {
      const exitCode = SIGNAL_EXIT[caught] ?? 1;
      const json = flags.logFormat === 'json';
      process.stderr.write(fatalText(err, `run aborted by ${caught}; nothing was published.`, { json, exitCode }));
      process.exitCode = exitCode;
      return;
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    stopHook();
    // The run ends the pool; not when the job did not load.
    await pool.close();
    dropEarlyParquetThread();
    await stopParquetThreadIfUnused();
  }
}
