import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { expandEnv, expandParams, PARAM_REF } from './template.js';

/** A path is inside `root` when it is below it: not root itself, not beside or above it. */
export function isInside(child: string, root: string): boolean {
  const rel = path.relative(root, child);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** The real path of `p` (symbolic links resolved) as far as it exists, with the rest appended. */
export async function realPath(p: string): Promise<string> {
  const rest: string[] = [];
  for (let at = path.resolve(p); ; at = path.dirname(at)) {
    const real = await realpath(at).catch(() => undefined);
    if (real !== undefined) return path.join(real, ...rest.reverse());
    if (path.dirname(at) === at) return path.resolve(p);
    rest.push(path.basename(at));
  }
}

/**
 * Resolves a templated output path (sink.parquet.path) against the job's directory, with the
 * root everything the sink touches must stay inside: the path up to its first {{ }} template
 * (environment variables are the operator's and belong to the root), or the path's parent when
 * it has no template. A parameter that leads the path out of its root, or onto the root itself,
 * is a usage error naming the parameter: a publish replaces that directory.
 */
export function resolveOutputPath(
  template: string,
  dir: string,
  env: NodeJS.ProcessEnv,
  params: Readonly<Record<string, string>>,
  where: string,
): { path: string; root: string } {
  const withEnv = expandEnv(template, env, where);
  const full = path.resolve(dir, expandParams(withEnv, params, where));
  const first = withEnv.search(/\{\{/);
  if (first < 0) return { path: full, root: path.dirname(full) };
  const prefix = withEnv.slice(0, first);
  const root = path.resolve(dir, prefix.slice(0, prefix.lastIndexOf('/') + 1));
  const used = [...new Set([...withEnv.matchAll(PARAM_REF)].map((m) => m[1]!))];
  // Inside the root is not enough when the template has a literal part before the parameter
  // (out_{{ region }}): a value may not climb (..) or restart the path (/) at all.
  const climbs = used.some((name) => /(^|\/)\.\.(\/|$)|^\//.test(params[name] ?? ''));
  if (!climbs && isInside(full, root)) return { path: full, root };
  const values = used.map((name) => `${name}="${params[name] ?? ''}"`).join(', ');
  throw new UsageError(
    `${where}: "${template}" with ${values} resolves to ${full}, which is not inside the sink's root ${root}; a parameter may not lead an output path out of it (check --param ${used.join(', --param ')}).`,
    { code: 'path_escape' },
  );
}
