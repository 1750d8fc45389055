/** Exit codes are part of the CLI contract (DESIGN.md); everything that ends a run maps to one. */
export const EXIT = {
  ok: 0,
  runtime: 1,
  usage: 2,
  quality: 3,
  locked: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * The one error family mlscale throws on purpose. `code` is stable (callers branch on it),
 * `exitCode` is what the CLI returns, and the message is a sentence meant for a person.
 */
export class MlscaleError extends Error {
  readonly code: string;
  readonly exitCode: ExitCode;
  /** The run this error ended, once one had started (set by runJob); logs and the fatal line name it. */
  runId?: string;

  constructor(code: string, exitCode: ExitCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MlscaleError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** Bad job, bad flags, bad files: detected before anything is written (exit 2). */
export class UsageError extends MlscaleError {
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? 'usage', EXIT.usage, message, options);
    this.name = 'UsageError';
  }
}

/** Source, model or sink failed while running (exit 1); nothing was published. */
export class RuntimeFailure extends MlscaleError {
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? 'runtime', EXIT.runtime, message, options);
    this.name = 'RuntimeFailure';
  }
}

/** The data failed a quality gate (exit 3); nothing was published. */
export class QualityGateError extends MlscaleError {
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? 'quality_gate', EXIT.quality, message, options);
    this.name = 'QualityGateError';
  }
}

/** Another run holds the job+partition lock (exit 4). */
export class LockedError extends MlscaleError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('locked', EXIT.locked, message, options);
    this.name = 'LockedError';
  }
}

/** Message of anything thrown, without assuming it is an Error. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
