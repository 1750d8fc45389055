import { CommanderError } from 'commander';
import { EXIT, MlscaleError } from '../errors.js';
import { registerConnectionString, registerSecret } from '../redact.js';
import { fatalError, fatalText, wantsJsonLogs } from './fatal.js';
import { buildProgram } from './program.js';
import { closeScorerPools } from '../scoring/scorer-pool.js';

let exiting = false;

/**
 * Exits with `code` once the scoring workers have scored the chunks they hold: process.exit with
 * a worker inside onnxruntime's run aborts the whole process (exit 134, "terminate called after
 * throwing an instance of 'Napi::Error'"). Once: a closed stderr fails every later write too.
 */
function exitAfterPools(code: number): void {
  if (exiting) return;
  exiting = true;
  process.exitCode = code;
  void closeScorerPools().finally(() => process.exit(code));
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
    exitAfterPools(Number(process.exitCode ?? EXIT.ok));
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
    if (!exiting)
      process.stderr.write(message !== undefined ? fatalText(err, message, options) : fatalError(err, options));
    exitAfterPools(EXIT.runtime);
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
