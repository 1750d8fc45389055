import path from 'node:path';
import { UsageError } from '../errors.js';
import { expandEnv, expandParams, PARAM_REF } from './template.js';

/** A path is inside `root` when it is below it: not root itself, not beside or above it. */
export function isInside(child: string, root: string): boolean {
  const rel = path.relative(root, child);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
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
  if (isInside(full, root)) return { path: full, root };
  const used = [...new Set([...withEnv.matchAll(PARAM_REF)].map((m) => m[1]!))];
  const values = used.map((name) => `${name}="${params[name] ?? ''}"`).join(', ');
  throw new UsageError(
    `${where}: "${template}" with ${values} resolves to ${full}, which is not inside the sink's root ${root}; a parameter may not lead an output path out of it (check --param ${used.join(', --param ')}).`,
    { code: 'path_escape' },
  );
}
