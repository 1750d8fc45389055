import { readFileSync } from 'node:fs';

let readable = process.platform === 'linux';

/**
 * CPU time the calling thread has used, in milliseconds, from /proc/thread-self/schedstat (Linux,
 * to the nanosecond); undefined where it cannot be read. A thread's wall time is no measure of
 * its work when the cores are shared: a scoring worker at a lower priority waits for the others.
 */
export function threadCpuMs(): number | undefined {
  if (!readable) return undefined;
  try {
    const text = readFileSync('/proc/thread-self/schedstat', 'utf8');
    const ns = Number(text.slice(0, text.indexOf(' ')));
    if (Number.isFinite(ns)) return ns / 1e6;
  } catch {
    // No /proc, or a kernel without schedstat: callers fall back to wall time.
  }
  readable = false;
  return undefined;
}
