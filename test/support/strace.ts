import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { bin } from './paths.js';

/** Debian's strace is there to kill a run at an exact system call. */
export const hasStrace = spawnSync('strace', ['-V']).status === 0;

/**
 * Runs mlscale in `cwd` under strace, killed with SIGKILL at the `when`-th call of `syscall` (or
 * not at all), and counts its calls on paths under `cwd`. `status` is null when the kill landed.
 */
export function straced(
  cwd: string,
  args: readonly string[],
  syscall: string,
  when?: number,
): { status: number | null; count: number } {
  const log = path.join(cwd, 'strace.log');
  const inject = when === undefined ? [] : ['-e', `inject=${syscall}:signal=SIGKILL:when=${when}`];
  const r = spawnSync(
    'strace',
    ['-f', '-qq', '-o', log, '-e', `trace=${syscall}`, ...inject, process.execPath, bin, ...args],
    // strace counts calls per thread: one libuv thread makes `when=N` the run's Nth file-system call.
    { cwd, encoding: 'utf8', env: { ...process.env, UV_THREADPOOL_SIZE: '1' } },
  );
  const calls = readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => new RegExp(`\\b${syscall}\\(`).test(l) && l.includes(cwd));
  return { status: r.status, count: calls.length };
}
