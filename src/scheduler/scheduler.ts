import { readFile, rename, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import cron, { type ScheduledTask } from 'node-cron';
import { loadJob } from '../config/load-job.js';
import { todayIn } from '../config/template.js';
import { MlscaleError, UsageError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { runWithChallengers } from '../run/challengers.js';
import { evaluateAndStore, laggedDs } from '../evaluate/run-evaluation.js';
import { brokenMessage } from '../evaluate/gates.js';
import { entryName, loadScheduledJobs, type ScheduledJob } from './load-jobs.js';
import { SchedulerMetrics, runStatusOf } from './metrics.js';

export interface SchedulerOptions {
  readonly paths: readonly string[];
  readonly stateFile: string;
  readonly log: Logger;
  /** The present that catch-up looks back from for missed intervals; default: the real clock. */
  readonly now?: () => Date;
}

/**
 * MLSCALE_SCHEDULER_NOW (an ISO 8601 time) pins the present that catch-up looks back from, when no
 * `now` option is given. It exists so that the end-to-end tests can run the real daemon and get
 * the same catch-up whatever day they run on (a daily job's missed intervals depend on the date);
 * it is read once, where the daemon is built, and changes nothing else: live ticks, ds of a live
 * tick, the state file and metrics all follow the real clock.
 */
function clockFromEnv(env: NodeJS.ProcessEnv): (() => Date) | undefined {
  const text = env.MLSCALE_SCHEDULER_NOW;
  if (text === undefined || text === '') return undefined;
  const at = new Date(text);
  if (Number.isNaN(at.getTime()))
    throw new UsageError(
      `MLSCALE_SCHEDULER_NOW: "${text}" is not a time; write ISO 8601 such as 2024-06-15T12:00:00Z, or unset it.`,
      { code: 'scheduler_now' },
    );
  return () => new Date(at);
}

type State = Record<string, string>; // job name → ISO time of its last tick

/** Whether a cron expression names its hours (0 6 * * *), so a repeated local hour is one tick. */
export function firesOncePerLocalTime(expression: string): boolean {
  const fields = expression.trim().split(/\s+/);
  const hour = fields[fields.length === 6 ? 2 : 1] ?? '*';
  return /^\d+(,\d+)*$/.test(hour);
}

/**
 * The newest `limit` ticks of `task` strictly between `after` and `before`, oldest first. The scan
 * walks back from `before` (at most 31 days of minutes, or a day of seconds), so a long outage
 * catches up its latest intervals. Where `oncePerLocalTime` (an expression at fixed hours: a
 * daily 01:30), a wall-clock time that occurs twice in `timezone` (the repeated autumn hour) is
 * one tick, the first, as node-cron's live schedule fires it once; a sub-hourly job keeps both.
 */
export function missedTicks(
  task: Pick<ScheduledTask, 'match'>,
  withSeconds: boolean,
  after: Date,
  before: Date,
  limit: number,
  timezone = 'UTC',
  oncePerLocalTime = false,
): Date[] {
  if (limit <= 0) return [];
  const step = withSeconds ? 1000 : 60_000;
  const maxSteps = withSeconds ? 86_400 : 31 * 24 * 60;
  const wallClock = new Intl.DateTimeFormat('en-CA', {
    timeZone: timezone,
    hourCycle: 'h23',
    ...({
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    } as const),
  });
  // Local time → the earliest instant with it; one more than asked, so the oldest can be dropped
  // once it is known that no earlier twin of it remains.
  const found = new Map<string, Date>();
  let t = Math.ceil(before.getTime() / step) * step - step;
  for (let i = 0; t > after.getTime() && i < maxSteps; i++, t -= step) {
    const d = new Date(t);
    if (!task.match(d)) continue;
    const local = oncePerLocalTime ? wallClock.format(d) : d.toISOString();
    if (!found.has(local) && found.size === limit + 1) break;
    found.set(local, d);
  }
  return [...found.values()].sort((a, b) => a.getTime() - b.getTime()).slice(-limit);
}

/**
 * Runs every scheduled job on its cron expression, in its time zone, with ds set to the tick's
 * date. A job never overlaps itself; stop() lets running jobs finish within a grace period,
 * then aborts them (they roll back).
 */
export class Scheduler {
  readonly metrics = new SchedulerMetrics();
  private jobs: ScheduledJob[] = [];
  private readonly tasks = new Map<string, ScheduledTask>();
  private readonly running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private stopping = false;
  private state: State = {};
  private server: Server | undefined;
  private readonly now: () => Date;

  constructor(private readonly options: SchedulerOptions) {
    this.now = options.now ?? clockFromEnv(process.env) ?? (() => new Date());
  }

  async start(): Promise<void> {
    const { jobs, unscheduled } = await loadScheduledJobs(this.options.paths);
    for (const f of unscheduled) this.options.log.info('skipping a job file without schedule:', { file: f });
    this.state = JSON.parse(await readFile(this.options.stateFile, 'utf8').catch(() => '{}')) as State;
    this.install(jobs);
    await this.catchUp();
  }

  private install(jobs: ScheduledJob[]): void {
    for (const t of this.tasks.values()) void t.destroy();
    this.tasks.clear();
    this.jobs = jobs;
    for (const sj of jobs) {
      const name = entryName(sj);
      const task = cron.createTask(sj.schedule, (ctx) => this.tick(sj, ctx.date, 'scheduled'), {
        timezone: sj.job.timezone,
        name,
      });
      void task.start();
      this.tasks.set(name, task);
      this.metrics.addJob(name);
      this.updateNext(sj);
      this.options.log.info('scheduled', {
        job: name,
        schedule: sj.schedule,
        timezone: sj.job.timezone,
        next: task.getNextRun()?.toISOString() ?? null,
      });
    }
  }

  private updateNext(sj: ScheduledJob): void {
    const next = this.tasks.get(entryName(sj))?.getNextRun();
    if (next) this.metrics.nextRun.set({ job: entryName(sj) }, next.getTime() / 1000);
  }

  /** After a restart, the last `catchup` missed intervals of each job, oldest first. */
  private async catchUp(): Promise<void> {
    const now = this.now();
    for (const sj of this.jobs) {
      const last = this.state[entryName(sj)];
      if (sj.catchup === 0 || !last) continue;
      const ticks = missedTicks(
        this.tasks.get(entryName(sj))!,
        sj.schedule.trim().split(/\s+/).length === 6,
        new Date(last),
        now,
        sj.catchup,
        sj.job.timezone,
        firesOncePerLocalTime(sj.schedule),
      );
      for (const t of ticks) {
        this.options.log.info('catching up a missed interval', { job: entryName(sj), tick: t.toISOString() });
        await this.tick(sj, t, 'catchup');
      }
    }
  }

  /** Writes of the state file, one after another: jobs that tick together shared its temporary file. */
  private saving: Promise<void> = Promise.resolve();

  private saveState(job: string, tick: Date): Promise<void> {
    this.state[job] = tick.toISOString();
    const write = async () => {
      const tmp = `${this.options.stateFile}.tmp`;
      await writeFile(tmp, JSON.stringify(this.state, null, 2) + '\n');
      await rename(tmp, this.options.stateFile);
    };
    const saved = this.saving.then(write);
    this.saving = saved.catch(() => undefined);
    return saved;
  }

  private async tick(sj: ScheduledJob, date: Date, reason: 'scheduled' | 'catchup'): Promise<void> {
    const name = entryName(sj);
    const log = this.options.log;
    if (this.stopping) return;
    if (this.running.has(name)) {
      log.warn('tick skipped: the previous run of this job is still running', { job: name, tick: date.toISOString() });
      this.metrics.runs.inc({ job: name, status: 'skipped' });
      return;
    }
    const controller = new AbortController();
    let finish!: () => void;
    this.running.set(name, { controller, done: new Promise<void>((r) => (finish = r)) });
    this.metrics.running.inc({ job: name });
    const started = Date.now();
    const ds = todayIn(sj.job.timezone, date);
    try {
      await this.saveState(name, date);
      if (sj.kind === 'evaluate') {
        await this.evaluate(sj, ds, controller.signal);
        return;
      }
      const job = await loadJob(sj.file, { params: { ds } });
      const events = {
        info: (m: string, f?: Record<string, unknown>) => log.info(m, { job: name, ...f }),
        warn: (m: string, f?: Record<string, unknown>) => log.warn(m, { job: name, ...f }),
      };
      log.info('tick', { job: name, ds, reason, tick: date.toISOString() });
      const result = await runWithChallengers(job, { signal: controller.signal, events });
      this.metrics.runs.inc({ job: name, status: 'succeeded' });
      this.metrics.rows.inc({ job: name }, result.rowsScored);
      this.metrics.lastSuccess.set({ job: name }, Date.now() / 1000);
      log.info('run succeeded', {
        job: name,
        run_id: result.runId,
        ds,
        rows_written: result.rowsWritten,
        duration_ms: result.durationMs,
      });
    } catch (err) {
      const status = runStatusOf(err);
      this.metrics.runs.inc({ job: name, status });
      const runId = err instanceof MlscaleError ? err.runId : undefined;
      log.error('run failed', {
        job: name,
        ...(runId !== undefined ? { run_id: runId } : {}),
        ds,
        status,
        error: errorMessage(err),
      });
    } finally {
      this.metrics.duration.observe({ job: name }, (Date.now() - started) / 1000);
      this.metrics.running.dec({ job: name });
      this.running.delete(name);
      this.updateNext(sj);
      finish();
    }
  }

  /**
   * An evaluation tick: the partition lag_days before the tick's date, against its labels. A broken
   * gate is logged as an error and counted as quality_gate; the evaluation is stored either way.
   */
  private async evaluate(sj: ScheduledJob, tickDs: string, signal: AbortSignal): Promise<void> {
    const name = entryName(sj);
    const log = this.options.log;
    const ds = laggedDs(tickDs, sj.job.evaluation.lagDays);
    log.info('evaluation tick', { job: name, ds, lag_days: sj.job.evaluation.lagDays });
    const job = await loadJob(sj.file, { params: { ds } });
    const { evaluation, gates, stored } = await evaluateAndStore(job, signal);
    const broken = brokenMessage(gates, evaluation.partition);
    const summary = Object.fromEntries(
      Object.entries(evaluation.metrics).map(([c, m]) => [
        c,
        m.task === 'binary'
          ? { roc_auc: m.roc_auc, log_loss: m.log_loss, coverage: m.coverage }
          : { rmse: m.rmse, coverage: m.coverage },
      ]),
    );
    this.metrics.runs.inc({ job: name, status: broken ? 'quality_gate' : 'succeeded' });
    if (!broken) this.metrics.lastSuccess.set({ job: name }, Date.now() / 1000);
    if (broken)
      log.error('evaluation broke a quality gate', { job: name, ds, error: broken, metrics: summary, stored });
    else log.info('evaluation succeeded', { job: name, ds, partition: evaluation.partition, metrics: summary, stored });
  }

  /** Re-reads the job files (SIGHUP). A bad set is logged and the current one kept. */
  async reload(): Promise<void> {
    try {
      const { jobs } = await loadScheduledJobs(this.options.paths);
      this.install(jobs);
      this.options.log.info('reloaded job files', { jobs: jobs.map(entryName) });
    } catch (err) {
      this.options.log.error('reload failed; keeping the jobs already loaded', { error: errorMessage(err) });
    }
  }

  /** Stops new ticks, lets running jobs finish within `graceMs`, then aborts them (they roll back). */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    for (const t of this.tasks.values()) await t.stop();
    const all = () => Promise.all([...this.running.values()].map((r) => r.done));
    if (this.running.size > 0) {
      this.options.log.info('waiting for running jobs', { jobs: [...this.running.keys()], grace_s: graceMs / 1000 });
      const timedOut = await Promise.race([
        all().then(() => false),
        new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref()),
      ]);
      if (timedOut) {
        for (const [job, r] of this.running) {
          this.options.log.warn('grace period over: aborting the run', { job });
          r.controller.abort(new Error('the scheduler is stopping'));
        }
        await all();
      }
    }
    for (const t of this.tasks.values()) await t.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /**
   * /healthz and Prometheus /metrics, read only: on the loopback interface unless `host` says
   * otherwise (a pod whose kubelet probes it passes 0.0.0.0), and 405 for anything but GET and HEAD.
   */
  listen(port: number, host = '127.0.0.1'): Promise<number> {
    this.server = createServer((req, res) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' });
        res.end();
      } else if (req.url === '/metrics') {
        this.metrics.registry
          .metrics()
          .then((body) => {
            res.writeHead(200, { 'content-type': this.metrics.registry.contentType });
            res.end(body);
          })
          .catch((err) => {
            res.writeHead(500);
            res.end(String(err));
          });
      } else if (req.url === '/healthz') {
        res.writeHead(this.stopping ? 503 : 200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            status: this.stopping ? 'stopping' : 'ok',
            jobs: this.jobs.map(entryName),
            running: [...this.running.keys()],
          }),
        );
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    return new Promise((resolve) =>
      this.server!.listen(port, host, () => resolve((this.server!.address() as { port: number }).port)),
    );
  }
}
