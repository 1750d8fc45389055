import { EXIT, MlscaleError, errorMessage } from '../errors.js';
import { redact } from '../redact.js';

/**
 * Whether the command line asks for JSON logs. Read from argv rather than from commander's parse:
 * a mistake on the command line ends the process before any option has been parsed.
 */
export function wantsJsonLogs(argv: readonly string[]): boolean {
  return argv.some((arg, i) => arg === '--log-format=json' || (arg === '--log-format' && argv[i + 1] === 'json'));
}

export interface FatalOptions {
  readonly json: boolean;
  readonly exitCode: number;
  /** With the stack trace (and its cause's). */
  readonly verbose?: boolean;
}

function stackOf(err: unknown): string | undefined {
  if (!(err instanceof Error) || !err.stack) return undefined;
  const cause = err.cause instanceof Error && err.cause.stack ? `\ncaused by: ${err.cause.stack}` : '';
  return err.stack + cause;
}

/**
 * The last thing a failing process says, on stderr: `error: <sentence>` for a person, or under
 * --log-format json one JSON line like every other log line, with the run id where a run had
 * started, the error's stable code and the exit code. Passwords are hidden in both.
 */
export function fatalText(err: unknown, message: string, options: FatalOptions): string {
  const stack = options.verbose ? stackOf(err) : undefined;
  if (!options.json) return redact(`error: ${message}\n${stack !== undefined ? stack + '\n' : ''}`);
  const runId = err instanceof MlscaleError ? err.runId : undefined;
  const line = {
    ts: new Date().toISOString(),
    level: 'error',
    // Hidden before JSON escaping, which would hide a password's quotes and backslashes from redact.
    msg: redact(message),
    ...(runId !== undefined ? { run_id: runId } : {}),
    ...(err instanceof MlscaleError ? { code: err.code } : {}),
    exit_code: options.exitCode,
    ...(stack !== undefined ? { stack: redact(stack) } : {}),
  };
  return JSON.stringify(line) + '\n';
}

/** fatalText for anything thrown, with its own message. */
export function fatalError(err: unknown, options: FatalOptions): string {
  return fatalText(err, errorMessage(err), options);
}

/** commander's own message (`error: unknown option '--jbo'\n(Did you mean --job?)`) as one JSON line. */
export function commanderErrorJson(text: string): string {
  const message = text
    .trim()
    .replace(/^error: /, '')
    .replace(/\s*\n\s*/g, ' ');
  return fatalText(undefined, message, { json: true, exitCode: EXIT.usage });
}
