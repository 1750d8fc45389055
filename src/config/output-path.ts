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
  if (first < 0) {
    checkVisible(full, path.dirname(full), `${where}: "${template}"`);
    return { path: full, root: path.dirname(full) };
  }
  const prefix = withEnv.slice(0, first);
  const root = path.resolve(dir, prefix.slice(0, prefix.lastIndexOf('/') + 1));
  const used = [...new Set([...withEnv.matchAll(PARAM_REF)].map((m) => m[1]!))];
  // Inside the root is not enough when the template has a literal part before the parameter
  // (out_{{ region }}): a value may not climb (..) or restart the path (/) at all.
  const climbs = used.some((name) => /(^|\/)\.\.(\/|$)|^\//.test(params[name] ?? ''));
  const values = used.map((name) => `${name}="${params[name] ?? ''}"`).join(', ');
  if (!climbs && isInside(full, root)) {
    checkVisible(full, root, `${where}: "${template}" with ${values}`);
    return { path: full, root };
  }
  throw new UsageError(
    `${where}: "${template}" with ${values} resolves to ${full}, which is not inside the sink's root ${root}; a parameter may not lead an output path out of it (check --param ${used.join(', --param ')}).`,
    { code: 'path_escape' },
  );
}

/**
 * Every directory between the root and the partition is one readers walk into: Spark and pyarrow
 * skip names that start with "_" or ".", and _mlscale is where the run ledger lives.
 */
function checkVisible(full: string, root: string, what: string): void {
  const hidden = path
    .relative(root, full)
    .split(path.sep)
    .find((part) => part.startsWith('_') || part.startsWith('.'));
  if (hidden === undefined) return;
  throw new UsageError(
    `${what} resolves to ${full}, whose directory "${hidden}" starts with "${hidden[0]}": Spark and pyarrow skip such directories (and ${root}/_mlscale holds mlscale's run ledger); name the partition without a leading "_" or ".".`,
    { code: 'sink_path' },
  );
}

/**
 * Resolves rejects.dir (Parquet sink): the root of a tree that repeats each partition's path
 * under the sink's root. It may not overlap the sink's root: `root/**` globs would read the
 * rejected rows as predictions, or a publish would replace the rejects. `file` (the old form,
 * a file inside the partition) is refused with the dir to write instead.
 */
export function resolveRejectsDir(
  value: string | undefined,
  sinkRoot: string,
  dir: string,
  env: NodeJS.ProcessEnv,
  where: string,
): string {
  const suggestion = path.relative(dir, `${sinkRoot}_rejects`) || `${sinkRoot}_rejects`;
  if (value === undefined)
    throw new UsageError(
      `${where}: rejected rows now go to a tree of their own, beside the predictions and out of their globs; write rejects: { dir: ${suggestion} } instead.`,
      { code: 'rejects_file' },
    );
  if (/\{\{/.test(value))
    throw new UsageError(
      `${where}: "${value}" is one directory for every partition (each partition's path under the sink's root is repeated inside it); write it without {{ }}.`,
      { code: 'sink_path' },
    );
  const full = path.resolve(dir, expandEnv(value, env, where));
  if (full === sinkRoot || isInside(full, sinkRoot) || isInside(sinkRoot, full))
    throw new UsageError(
      `${where}: ${full} overlaps the sink's root ${sinkRoot}; readers of ${sinkRoot}/**/*.parquet would take rejected rows for predictions. Name a directory beside it, such as ${suggestion}.`,
      { code: 'path_escape' },
    );
  return full;
}
