import { redact } from './redact.js';
import type { Progress, RunEvents } from './run/events.js';

export type LogFormat = 'text' | 'json';

export interface Logger extends RunEvents {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** Clears the progress line before the summary is printed. */
  done(): void;
}

function fmtRate(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0);
}

/**
 * Logs go to stderr: one JSON object per line when asked or when stderr is not a terminal
 * (cron, Airflow, Kubernetes), otherwise short text and a live progress line.
 */
export function createLogger(
  format: LogFormat | undefined,
  options: { progress: boolean; stream?: NodeJS.WriteStream } = { progress: true },
): Logger {
  const out = options.stream ?? process.stderr;
  const mode: LogFormat = format ?? (out.isTTY ? 'text' : 'json');
  const showProgress = mode === 'text' && options.progress && out.isTTY === true;
  let progressShown = false;
  let lastProgress = 0;

  const clear = () => {
    if (progressShown) {
      out.write('\r\x1b[K');
      progressShown = false;
    }
  };
  const emit = (level: string, message: string, fields?: Record<string, unknown>) => {
    if (mode === 'json') {
      out.write(redact(JSON.stringify({ ts: new Date().toISOString(), level, msg: message, ...fields })) + '\n');
      return;
    }
    clear();
    const extra =
      fields && Object.keys(fields).length > 0
        ? ' ' +
          Object.entries(fields)
            .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
            .join(' ')
        : '';
    out.write(redact(`${level === 'info' ? '' : `${level}: `}${message}${extra}`) + '\n');
  };
  return {
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    progress(p: Progress) {
      const now = Date.now();
      if (mode === 'json') {
        // One line every 5 s is plenty for a log file.
        if (now - lastProgress < 5000) return;
        lastProgress = now;
        emit('info', 'progress', {
          rows_read: p.rowsRead,
          rows_written: p.rowsWritten,
          total_rows: p.totalRows ?? null,
          elapsed_ms: p.elapsedMs,
        });
        return;
      }
      if (!showProgress || now - lastProgress < 100) return;
      lastProgress = now;
      const rate = p.elapsedMs > 0 ? (p.rowsRead / p.elapsedMs) * 1000 : 0;
      let line = `scoring: ${p.rowsRead.toLocaleString('en-US')} rows`;
      if (p.totalRows) {
        const pct = Math.min(100, (p.rowsRead / p.totalRows) * 100);
        const eta = rate > 0 ? Math.max(0, (p.totalRows - p.rowsRead) / rate) : 0;
        line += ` / ${p.totalRows.toLocaleString('en-US')} (${pct.toFixed(0)}%)`;
        line += `, ${fmtRate(rate)} rows/s, ETA ${eta.toFixed(0)} s`;
      } else line += `, ${fmtRate(rate)} rows/s`;
      out.write('\r\x1b[K' + line);
      progressShown = true;
    },
    done: clear,
  };
}
