import { UsageError } from '../errors.js';

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
export const PARAM_REF = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** Replaces `${VAR}` (or `${VAR:-default}`) with the environment's value; a missing one is an error naming it. */
export function expandEnv(text: string, env: NodeJS.ProcessEnv, where: string): string {
  return text.replace(ENV_REF, (_, name: string, fallback: string | undefined) => {
    const value = env[name];
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    throw new UsageError(
      `${where}: environment variable ${name} is not set; export it or write \${${name}:-default}.`,
      { code: 'missing_env' },
    );
  });
}

/** Replaces `{{ name }}` with a job parameter; an unknown name is an error listing the known ones. */
export function expandParams(text: string, params: Readonly<Record<string, string>>, where: string): string {
  return text.replace(PARAM_REF, (_, name: string) => {
    const value = params[name];
    if (value === undefined) {
      throw new UsageError(
        `${where}: unknown parameter {{ ${name} }} (known: ${Object.keys(params).sort().join(', ')}); add it under params: or pass --param ${name}=VALUE.`,
        { code: 'unknown_param' },
      );
    }
    return value;
  });
}

/** Today's date (YYYY-MM-DD) in the given IANA time zone. */
export function todayIn(timezone: string, now: Date = new Date()): string {
  // ICU's first time-zone formatter costs about 15 ms of every start; UTC needs none.
  if (timezone === 'UTC') return now.toISOString().slice(0, 10);
  return new Intl.DateTimeFormat('en-CA', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(now);
}

/** Parses `k=v` pairs from --param flags. */
export function parseParamFlags(flags: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    const key = eq > 0 ? flag.slice(0, eq).trim() : '';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw new UsageError(`--param "${flag}": expected NAME=VALUE with a name of letters, digits and underscores.`);
    }
    out[key] = flag.slice(eq + 1);
  }
  return out;
}

/**
 * This process's shard: `--shard I/N`, or for a Kubernetes Indexed Job JOB_COMPLETION_INDEX with
 * the total in MLSCALE_SHARDS. Unsharded is 0 of 1.
 */
export function parseShard(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): { index: number; count: number } {
  const text =
    flag ??
    (env.JOB_COMPLETION_INDEX !== undefined && env.MLSCALE_SHARDS !== undefined
      ? `${env.JOB_COMPLETION_INDEX}/${env.MLSCALE_SHARDS}`
      : undefined);
  if (text === undefined && flag === undefined && env.JOB_COMPLETION_INDEX !== undefined) {
    // An Indexed Job's pods would each score everything: refuse rather than run N copies.
    throw new UsageError(
      'JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but MLSCALE_SHARDS is not; set MLSCALE_SHARDS to the number of completions, or pass --shard I/N.',
    );
  }
  if (text === undefined) return { index: 0, count: 1 };
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const where = flag !== undefined ? '--shard' : 'JOB_COMPLETION_INDEX/MLSCALE_SHARDS';
  if (!m)
    throw new UsageError(
      `${where}: "${text}" is not I/N; write the shard index and the shard count, e.g. --shard 0/4.`,
    );
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index >= count)
    throw new UsageError(
      `${where}: shard ${index} of ${count} does not exist; the index runs from 0 to ${Math.max(0, count - 1)}.`,
    );
  return { index, count };
}
