import { spawn, type ChildProcess } from 'node:child_process';
import { bin } from './paths.js';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running mlscale process: signal `child`, await `done`, read its stderr so far with `log()`. */
export interface Running {
  readonly child: ChildProcess;
  readonly done: Promise<CliResult>;
  log(): string;
}

/**
 * Starts the built binary as a user would (not a TTY, so logs are JSON lines on stderr). `track`
 * collects the child, for an afterAll that kills what a failed test left running.
 */
export function startMlscale(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; track?: Set<ChildProcess> } = {},
): Running {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  options.track?.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done, log: () => stderr };
}

/** Runs the built binary to its end (killed after `timeoutMs`, 50 s by default). */
export async function mlscale(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  const run = startMlscale(args, options);
  // Shorter than vitest's 60 s test timeout, so a hung child never outlives its test.
  const timer = setTimeout(() => run.child.kill('SIGKILL'), options.timeoutMs ?? 50_000);
  try {
    return await run.done;
  } finally {
    clearTimeout(timer);
  }
}

/** The last `error: ...` line a failed command printed. */
export function errorLine(r: CliResult): string {
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
  return lines.join('\n');
}
