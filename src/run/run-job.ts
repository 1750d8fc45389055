import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Job } from '../config/job.js';
import type { LoadedModel } from '../model/load-model.js';
import { MlscaleError, RuntimeFailure, UsageError, errorMessage } from '../errors.js';
import { newRunRecord, shardText, type Checkpoint } from '../ledger/record.js';
import { redact } from '../redact.js';
import { ScorerPool } from '../scoring/scorer-pool.js';
import type { WorkerModel } from '../scoring/wire.js';
import { parquetThreadBusyMs } from '../parquet-thread.js';
import { makeSink, nullSink } from '../sink/make-sink.js';
import { RejectBuffer } from '../sink/rejects.js';
import type { Sink } from '../sink/sink.js';
import { StatsCollector } from '../stats/collector.js';
import type { RunStats } from '../stats/types.js';
import type { RunEvents } from './events.js';
import { fingerprintChanges, fingerprintOf } from './fingerprint.js';
import { checkDrift, checkEmptyRun, checkPartialRun, checkRejectRate } from './gates.js';
import { newCounters, runPipeline, type Counters } from './pipeline.js';
import { planJob, type JobPlan } from './plan-job.js';
import { checkRunId, newRunId } from './run-id.js';
import { sinkLayout } from './sink-layout.js';
import { StageClock, type StageTimings } from './stage-clock.js';
import { isTransient } from './transient.js';
import { prefetch, type Prefetched } from '../source/prefetch.js';
import { benchSerial } from './bench-serial.js';

export interface RunOptions {
  readonly runId?: string;
  readonly limit?: number;
  /** Score but write nothing. */
  readonly dryRun?: boolean;
  /** Let a --limit run replace a partition that already holds rows. */
  readonly allowPartial?: boolean;
  /** Wait for a run holding the same job, partition and shard instead of failing with exit 4. */
  readonly wait?: boolean;
  /** With wait: give up (exit 4) after this long. */
  readonly waitTimeoutMs?: number;
  /** Continue the newest failed checkpointed run of this job and partition instead of starting over. */
  readonly resume?: boolean;
  readonly signal?: AbortSignal;
  readonly events?: RunEvents;
  /**
   * A scoring pool started ahead of the job, without models (the score command starts it before
   * it reads the job): the first attempt loads the models into it. The run ends it in any case.
   */
  readonly pool?: ScorerPool;
  /**
   * Time the first chunk from the process start (the score command's own run: node and the
   * modules loading are its wait too); else from the run's start, or a retry's from its own.
   */
  readonly fromProcessStart?: boolean;
}

export interface RunResult {
  readonly runId: string;
  readonly job: string;
  readonly partition: string;
  readonly status: 'succeeded' | 'dry-run';
  readonly rowsRead: number;
  readonly rowsScored: number;
  readonly rowsRejected: number;
  readonly rowsFilled: number;
  readonly rowsWritten: number;
  readonly durationMs: number;
  readonly rowsPerSecond: number;
  /** Peak resident memory of the whole process (main thread and workers) so far, in MB. */
  readonly peakRssMb: number;
  readonly destination: string;
  readonly model: { readonly name: string; readonly version: string };
  readonly stats: RunStats;
  /** Where the time went (also in the ledger, as stats.timings). */
  readonly timings: StageTimings;
  readonly warnings: readonly string[];
}

/**
 * Runs a job end to end: plan, score every chunk, publish atomically. Returns the result or
 * throws an MlscaleError whose exitCode says what kind of failure it was; on any failure
 * nothing is published.
 */
export async function runJob(job: Job, options: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  const runStart = performance.now();
  const runId = options.runId !== undefined ? checkRunId(options.runId) : newRunId();
  if (options.resume && job.checkpointRows === undefined) {
    throw new UsageError(
      `--resume: job ${job.name} has no checkpoint_rows, so its runs keep no progress to resume; set checkpoint_rows in the job.`,
      { code: 'resume_unavailable' },
    );
  }
  let plan: JobPlan | undefined;
  // The pool whose workers checked the models while planning: the first attempt scores with it.
  let planned: ScorerPool | undefined;
  const parquetAtStart = parquetThreadBusyMs();
  try {
    return await attempts();
  } finally {
    // A source warmed while planning and never read (the lock was held) lets its thread go.
    await plan?.source.close().catch(() => undefined);
    // Ended by its attempt once it scored; not yet where the run failed before its models were read.
    await options.pool?.close().catch(() => undefined);
  }

  async function attempts(): Promise<RunResult> {
    for (let attempt = 0; ; attempt++) {
      // The first attempt counts the Parquet thread's work from planning on (footers, the first row group).
      const since = attempt === 0 ? parquetAtStart : parquetThreadBusyMs();
      try {
        if (!plan) {
          // Planning connects to a Postgres source too: a refused connection is retried like any other.
          plan = await planJob(job, {
            checker: (models) =>
              (planned =
                attempt === 0 && options.pool
                  ? options.pool.load(workerModels(job, models), job.parallelism)
                  : newPool(job, models)),
            // A run that may wait for the lock reads nothing before it holds it.
            warmSource: !benchSerial() && !options.wait,
          });
          // Planning can take a while (a model to load, a query to probe): a signal during it stops the run here.
          abortedAt('planning', options.signal);
          for (const w of plan.warnings) options.events?.warn?.(w);
        }
        // A checkpointed run that failed on a transient fault picks up from its last checkpoint.
        const resume = options.resume === true || (attempt > 0 && job.checkpointRows !== undefined);
        const pool =
          planned ??
          newPool(
            job,
            plan.models.map((m) => m.model),
          );
        planned = undefined;
        try {
          // A retry's first chunk is timed from the retry's start, the first attempt's from the run's.
          const from = attempt === 0 ? (options.fromProcessStart ? 0 : runStart) : performance.now();
          return await attemptRun(
            plan,
            pool,
            attempt === 0 ? runId : `${runId}-retry${attempt}`,
            started,
            since,
            from,
            {
              ...options,
              resume,
            },
          );
        } finally {
          // Also when the attempt fails before its own clean-up takes over (looking for a checkpoint).
          await pool.close().catch(() => undefined);
        }
      } catch (err) {
        await planned?.close().catch(() => undefined);
        planned = undefined;
        if (attempt >= job.retries || !isTransient(err) || options.signal?.aborted) throw err;
        const delay = job.retryBackoffSeconds * 2 ** attempt;
        options.events?.warn?.(
          `transient failure (${errorMessage(err)}); starting the run over in ${delay} s (retry ${attempt + 1} of ${job.retries}).`,
        );
        await sleep(delay * 1000, undefined, options.signal ? { signal: options.signal } : {}).catch(() => undefined);
        if (options.signal?.aborted) throw err;
      }
    }
  }
}

/** The scoring workers: each loads every model's session as soon as it starts. */
function newPool(job: Job, models: readonly LoadedModel[]): ScorerPool {
  return new ScorerPool({ threads: job.parallelism, models: workerModels(job, models) });
}

function workerModels(job: Job, models: readonly LoadedModel[]): WorkerModel[] {
  return models.map((m, i) => ({
    modelBytes: m.runtimeBytes,
    modelFile: job.models[i]!.path,
    providers: job.models[i]!.providers,
    intraOpThreads: job.models[i]!.intraOpThreads,
  }));
}

async function findCheckpoint(plan: JobPlan, options: RunOptions): Promise<Checkpoint | undefined> {
  if (!options.resume || options.dryRun) return undefined;
  const probe = makeSink(plan.job.sink, sinkLayout(plan, 'resume-probe'));
  try {
    const found = await probe.findResumable();
    if (found && found.batchSize !== plan.job.batchSize) {
      throw new UsageError(
        `--resume: run ${found.runId} read chunks of ${found.batchSize} rows; resume it with --batch-size ${found.batchSize}.`,
        { code: 'resume_batch_size' },
      );
    }
    if (found) {
      const changed = fingerprintChanges(found.fingerprint, fingerprintOf(plan));
      if (changed.length > 0) {
        throw new UsageError(
          `--resume: ${changed.join(', ')} changed since run ${found.runId} was checkpointed; its rows and the rest would not belong together, so nothing was resumed. Run again without --resume to score the partition from the start.`,
          { code: 'resume_changed' },
        );
      }
    }
    if (!found)
      options.events?.warn?.('--resume: no failed checkpointed run of this job and partition; starting a new run.');
    return found;
  } finally {
    await probe.close();
  }
}

async function attemptRun(
  plan: JobPlan,
  pool: ScorerPool,
  newRunId: string,
  started: number,
  /** The Parquet thread's busy time when this attempt began (its planning, for the first). */
  parquetSince: number,
  /** What start_ms counts from, on performance.now()'s clock (RunOptions.fromProcessStart). */
  timedFrom: number,
  options: RunOptions,
): Promise<RunResult> {
  const job = plan.job;
  const attemptStarted = Date.now();
  const resumed = await findCheckpoint(plan, options);
  const runId = resumed?.runId ?? newRunId;
  if (resumed)
    options.events?.info?.('resuming run', {
      run_id: runId,
      chunks_done: resumed.chunks,
      rows_written: resumed.counters.rowsWritten,
    });
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  // A listener added to a signal that has already fired never runs.
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  const sink: Sink = options.dryRun
    ? nullSink()
    : makeSink(
        job.sink,
        sinkLayout(plan, runId, new Date(), { ...options, warn: (m: string) => options.events?.warn?.(m) }),
      );
  const record = newRunRecord({
    run_id: runId,
    job: job.name,
    partition: job.partition,
    shard: shardText(job.shard),
    params: { ...job.recordedParams },
    model_name: plan.modelName,
    model_version: plan.modelVersion,
    model_sha256: plan.modelSha256,
    started_at: new Date(attemptStarted).toISOString(),
  });
  pool.onWarning = (m) => options.events?.warn?.(m);
  const stats = new StatsCollector();
  const clock = new StageClock(timedFrom);
  // The workers' time inside onnxruntime, as the pool has summed it so far.
  const timings = () => ({
    ...clock.result(),
    inference_ms: Math.round(pool.inferenceMs),
    parquet_ms: Math.round(parquetThreadBusyMs() - parquetSince),
    workers: pool.workers,
  });
  const rejects = job.rejects ? new RejectBuffer(plan.keyFields) : undefined;
  let early: Prefetched | undefined;
  const counters = resumed ? { ...newCounters(), ...resumed.counters, chunks: resumed.chunks } : newCounters();
  const fill = (c: Counters) => {
    record.rows_read = c.rowsRead;
    record.rows_scored = c.rowsScored;
    record.rows_rejected = c.rowsRejected;
    record.rows_written = c.rowsWritten;
  };
  try {
    if (options.limit !== undefined && !options.allowPartial)
      checkPartialRun(options.limit, job.partition, await sink.published());
    await sink.begin(record, resumed, controller.signal);
    // Only once the run holds its lock: a duplicate must not run the source's query at all. The
    // first chunk is then read while the workers are still loading their sessions.
    early = benchSerial()
      ? { batches: plan.source.batches(controller.signal)[Symbol.asyncIterator](), cancel: async () => undefined }
      : prefetch(plan.source.batches(controller.signal), () => clock.firstChunk());
    options.events?.info?.('run started', {
      run_id: runId,
      job: job.name,
      partition: job.partition,
      source: redact(plan.source.description),
      sink: sink.description,
    });
    await runPipeline(plan, pool, sink, stats, counters, {
      // The bench's stage costs: one chunk at a time, each stage alone (README, Performance).
      ...(benchSerial() ? { serial: true } : {}),
      ...(options.limit !== undefined ? { limit: options.limit } : {}),
      ...(resumed ? { skipChunks: resumed.chunks } : {}),
      ...(rejects ? { rejects } : {}),
      ...(job.checkpointRows !== undefined
        ? { checkpointRows: job.checkpointRows, fingerprint: fingerprintOf(plan) }
        : {}),
      runId,
      clock,
      batches: early.batches,
      signal: controller.signal,
      onChunk: (c) =>
        options.events?.progress?.({
          rowsRead: c.rowsRead,
          rowsWritten: c.rowsWritten,
          totalRows: plan.source.totalRows,
          elapsedMs: Date.now() - started,
        }),
    });
    fill(counters);
    record.stats = { ...stats.result(), timings: timings() };
    checkRejectRate(counters.rowsRead, counters.rowsRejected, job.maxRejectRate);
    if (counters.rowsWritten === 0 && !job.allowEmpty && !options.dryRun)
      checkEmptyRun(job.partition, await sink.published());
    if (job.monitor) {
      const base = await sink.baseline(job.monitor.baseline);
      checkDrift(job.monitor, base, stats, record, (m) => options.events?.warn?.(m));
    }
    record.status = 'succeeded';
    record.finished_at = new Date().toISOString();
    if (rejects?.dropped)
      options.events?.warn?.(
        `rejects: only the first ${rejects.size} rejected rows were written; ${rejects.dropped} more were counted.`,
      );
    controller.signal.throwIfAborted();
    // The ledger row is written by the publish itself, so it holds the time up to here.
    const publishStarted = performance.now();
    await sink.publish(record, rejects, controller.signal);
    clock.add('publish', performance.now() - publishStarted);
    if (counters.rowsRead === 0) options.events?.warn?.('nothing to score: the source has no rows.');
  } catch (err) {
    controller.abort(err);
    fill(counters);
    record.status = 'failed';
    record.finished_at = new Date().toISOString();
    record.error = redact(errorMessage(err));
    record.stats ??= { ...stats.result(), timings: timings() };
    await sink.abort(record);
    const failure = asMlscaleError(err, options.signal);
    failure.runId ??= runId;
    throw failure;
  } finally {
    await early?.cancel();
    options.signal?.removeEventListener('abort', onAbort);
    await pool.close().catch(() => undefined);
    await sink.close();
  }
  const durationMs = Date.now() - started;
  return {
    runId,
    job: job.name,
    partition: job.partition,
    status: options.dryRun ? 'dry-run' : 'succeeded',
    rowsRead: counters.rowsRead,
    rowsScored: counters.rowsScored,
    rowsRejected: counters.rowsRejected,
    rowsFilled: counters.rowsFilled,
    rowsWritten: options.dryRun ? 0 : record.rows_written,
    durationMs,
    rowsPerSecond: durationMs > 0 ? (counters.rowsRead / durationMs) * 1000 : 0,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    destination: options.dryRun ? '(dry run: nothing written)' : sink.description,
    model: { name: plan.modelName, version: plan.modelVersion },
    stats: record.stats!,
    timings: timings(),
    warnings: plan.warnings,
  };
}

/** Stops a run whose signal fired during `phase`; nothing has been written yet. */
function abortedAt(phase: string, signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  throw new RuntimeFailure(`run aborted during ${phase} (${errorMessage(signal.reason)}); nothing was published.`, {
    code: 'aborted',
    cause: signal.reason,
  });
}

function asMlscaleError(err: unknown, signal: AbortSignal | undefined): MlscaleError {
  if (err instanceof MlscaleError) return err;
  if (signal?.aborted)
    return new RuntimeFailure(`run aborted (${errorMessage(signal.reason)}); nothing was published.`, {
      code: 'aborted',
      cause: err,
    });
  return new RuntimeFailure(`run failed: ${redact(errorMessage(err))}; nothing was published.`, {
    code: 'internal',
    cause: err,
  });
}
