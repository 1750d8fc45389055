import { CommanderError } from 'commander';
import { EXIT, MlscaleError, errorMessage } from '../errors.js';
import { redact, registerConnectionString, registerSecret } from '../redact.js';
import { buildProgram } from './program.js';

/**
 * The only place that decides exit codes: MlscaleErrors carry theirs, command-line mistakes
 * are usage errors (2), anything else is an internal failure (1) reported in one line.
 */
export async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  // Connection strings from the environment are secrets wherever they turn up.
  registerConnectionString(process.env.DATABASE_URL ?? '');
  registerSecret(process.env.PGPASSWORD);
  const verbose = argv.includes('--verbose');
  // parquet-wasm's async reader can trap inside a promise on a damaged file, out of reach of any
  // try/catch. Exit 1 with a sentence; open transactions roll back when the process ends.
  process.on('uncaughtException', (err) => {
    const wasmTrap = err instanceof Error && err.name === 'RuntimeError';
    process.stderr.write(
      `error: ${wasmTrap ? 'source: the Parquet decoder crashed on a damaged file (' + err.message + '); nothing was published.' : redact(errorMessage(err))}\n`,
    );
    if (verbose && err instanceof Error && err.stack) process.stderr.write(redact(err.stack) + '\n');
    process.exit(EXIT.runtime);
  });
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has already printed its message; help and version are not errors.
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    const message = redact(errorMessage(err));
    process.stderr.write(`error: ${message}\n`);
    if (verbose && err instanceof Error && err.stack) {
      process.stderr.write(redact(err.stack) + '\n');
      if (err.cause instanceof Error && err.cause.stack)
        process.stderr.write(`caused by: ${redact(err.cause.stack)}\n`);
    }
    process.exitCode = err instanceof MlscaleError ? err.exitCode : EXIT.runtime;
  }
}
