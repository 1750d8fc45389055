import { CommanderError } from 'commander';
import { EXIT, MlscaleError } from '../errors.js';
import { registerConnectionString, registerSecret } from '../redact.js';
import { fatalError, fatalText, wantsJsonLogs } from './fatal.js';
import { buildProgram } from './program.js';
import { closeScorerPools } from '../scoring/scorer-pool.js';
import { requestStop } from './stop-hook.js';

let exiting = false;

/**
 * Ends the process with `code` after a stream it writes to closed. A run in progress is stopped
 * and unwinds as for a signal (its lock released, its failure recorded with `why`), and the
 * process ends when it has, with that failure's code. Otherwise it exits once the scoring workers
 * have scored the chunks they hold: process.exit with a worker inside onnxruntime's run aborts the
 * whole process (exit 134). Once: a closed stderr fails every later write too.
 */
function exitAfterPools(code: number, why: string): void {
  if (exiting) return;
  exiting = true;
  process.exitCode = code;
  const exit = () => void closeScorerPools().finally(() => process.exit(code));
  // A run that does not end within a minute is left to the pools' own deadline.
  if (requestStop(new Error(why))) setTimeout(exit, 60_000).unref();
  else exit();
}

/**
 * The only place that decides exit codes: MlscaleErrors carry theirs, command-line mistakes
 * are usage errors (2), anything else is an internal failure (1) reported in one line.
 */
export async function main(argv: readonly string[]): Promise<void> {
  const json = wantsJsonLogs(argv);
  const verbose = argv.includes('--verbose');
  // A reader that stops early (`mlscale runs | head -1`) closes stdout: it has what it wanted, so
  // the command ends quietly (with the exit code already decided, 0 otherwise), as with SIGPIPE.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    exitAfterPools(Number(process.exitCode ?? EXIT.ok), 'stdout was closed (EPIPE): the run was stopped');
  });
  const program = buildProgram({ json });
  // Connection strings from the environment are secrets wherever they turn up.
  registerConnectionString(process.env.DATABASE_URL ?? '');
  registerSecret(process.env.PGPASSWORD);
  // parquet-wasm's async reader can trap inside a promise on a damaged file, out of reach of any
  // try/catch. Exit 1 with a sentence; open transactions roll back when the process ends.
  process.on('uncaughtException', (err) => {
    const message =
      err instanceof Error && err.name === 'RuntimeError'
        ? `source: the Parquet decoder crashed on a damaged file (${err.message}); nothing was published.`
        : undefined;
    const options = { json, verbose, exitCode: EXIT.runtime };
    // A closed stderr fails this write too: the exit below is what matters.
    if (exiting) return;
    process.stderr.write(message !== undefined ? fatalText(err, message, options) : fatalError(err, options));
    const closed = (err as NodeJS.ErrnoException).code === 'EPIPE';
    exitAfterPools(EXIT.runtime, closed ? 'stderr was closed (EPIPE): the run was stopped' : err.message);
  });
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has already printed its message; help and version are not errors.
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    const exitCode = err instanceof MlscaleError ? err.exitCode : EXIT.runtime;
    process.stderr.write(fatalError(err, { json, verbose, exitCode }));
    process.exitCode = exitCode;
  }
}
