import path from 'node:path';
import { Scheduler } from '../../scheduler/scheduler.js';
import { createLogger, type LogFormat } from '../../logger.js';

export interface ScheduleFlags {
  port?: number;
  host: string;
  grace: number;
  state: string;
  logFormat?: LogFormat;
}

/**
 * `mlscale schedule`: the daemon. SIGTERM/SIGINT stop new ticks and let running jobs finish
 * within --grace seconds, then abort them; SIGHUP reloads the job files.
 */
export async function scheduleCommand(paths: string[], flags: ScheduleFlags): Promise<void> {
  const log = createLogger(flags.logFormat ?? 'json', { progress: false });
  const scheduler = new Scheduler({ paths, stateFile: path.resolve(flags.state), log });
  await scheduler.start();
  if (flags.port !== undefined) {
    const port = await scheduler.listen(flags.port, flags.host);
    log.info('serving /healthz and /metrics', { host: flags.host, port });
  }
  log.info('scheduler started', { pid: process.pid });
  await new Promise<void>((resolve) => {
    const stop = (sig: NodeJS.Signals) => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      log.info(`received ${sig}: no new ticks`, { grace_s: flags.grace });
      scheduler
        .stop(flags.grace * 1000)
        .catch((err) => log.error('stopping failed', { error: String(err) }))
        .finally(resolve);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => {
      log.info('received SIGHUP: reloading job files');
      void scheduler.reload();
    });
  });
  log.info('scheduler stopped');
}
