import { readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { expandEnv, expandParams, PARAM_REF } from './template.js';

/** The most bytes a directory name may have (ext4, xfs, btrfs, APFS, NTFS). */
const MAX_NAME_BYTES = 255;
/**
 * The most bytes a partition directory's name may have: mlscale names its staging directories,
 * set-aside copies and locks after it (`.NAME.mlscale@s1of4-RUN_ID`, with a run id of up to 128
 * characters), and those names must fit MAX_NAME_BYTES too.
 */
export const MAX_PARTITION_NAME_BYTES = 100;

/** A path is inside `root` when it is below it: not root itself, not beside or above it. */
export function isInside(child: string, root: string): boolean {
  const rel = path.relative(root, child);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * The real path of `p`: symbolic links resolved as far as it exists, a dangling link followed to
 * where it points (a directory created there later is where writes through it land), the rest
 * appended.
 */
export function realPathSync(p: string, depth = 0): string {
  const rest: string[] = [];
  for (let at = path.resolve(p); ; at = path.dirname(at)) {
    const real = tryFs(() => realpathSync.native(at));
    if (real !== undefined) return path.join(real, ...rest.reverse());
    const link = depth < 40 ? tryFs(() => readlinkSync(at)) : undefined;
    if (link !== undefined) {
      // Relative to the directory the link really sits in, as the kernel resolves it.
      const from = realPathSync(path.dirname(at), depth + 1);
      return realPathSync(path.join(path.resolve(from, link), ...rest.reverse()), depth + 1);
    }
    if (path.dirname(at) === at) return path.resolve(p);
    rest.push(path.basename(at));
  }
}

/** As realPathSync, for async callers. */
export async function realPath(p: string): Promise<string> {
  return realPathSync(p);
}

function tryFs<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
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
    checkSegments(withEnv, params, `${where}: "${template}"`);
    return { path: full, root };
  }
  throw new UsageError(
    `${where}: "${template}" with ${values} resolves to ${full}, which is not inside the sink's root ${root}; a parameter may not lead an output path out of it (check --param ${used.join(', --param ')}).`,
    { code: 'path_escape' },
  );
}

/**
 * resolveOutputPath for an s3:// prefix: the same rules (the root up to the first template, one
 * key segment per parameter, no hidden segment), applied to `/bucket/key` as a POSIX path.
 */
export function resolveObjectPath(
  template: string,
  env: NodeJS.ProcessEnv,
  params: Readonly<Record<string, string>>,
  where: string,
): { path: string; root: string } {
  const asPath = expandEnv(template, env, where).replace(/^s3:\/\//, '/');
  const toUrl = (p: string) => `s3:/${p}`;
  try {
    const { path: full, root } = resolveOutputPath(asPath, '/', {}, params, where);
    if (root === '/')
      throw new UsageError(`${where}: "${template}" names a whole bucket; write s3://BUCKET/PREFIX/PARTITION.`, {
        code: 'sink_path',
      });
    return { path: toUrl(full), root: toUrl(root) };
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    // Messages name the key as the user wrote it.
    const bucket = asPath.split('/')[1] ?? '';
    throw new UsageError(
      err.message.split(` /${bucket}`).join(` s3://${bucket}`).split(`"/${bucket}`).join(`"s3://${bucket}`),
      {
        code: err.code,
      },
    );
  }
}

/** A value or a name as shown in a message: quoted, cut at 60 characters. */
const clip = (v: string) => JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);

/**
 * Each directory of the templated path (after ${} expansion) as its parameters fill it: a value
 * fills one directory name. It may not add directories ("/", "\\"), remove one ("", ".", ".."),
 * carry a NUL, break a Hive `name=value` name with a second "=", or make a name longer than the
 * file system (or, for the partition directory, mlscale's names beside it) allows.
 */
function checkSegments(withEnv: string, params: Readonly<Record<string, string>>, what: string): void {
  const segments = withEnv.split('/');
  const last = segments.findLastIndex((s) => s !== '');
  segments.forEach((segment, i) => {
    const names = [...segment.matchAll(PARAM_REF)].map((m) => m[1]!);
    const filled = names.length > 0 ? expandParams(segment, params, what) : segment;
    const refuse = (name: string | undefined, rule: string): never => {
      throw new UsageError(
        name === undefined
          ? `${what}: ${rule}; shorten it.`
          : `${what} with ${name}=${clip(params[name] ?? '')}: ${rule}; check --param ${name}.`,
        { code: 'sink_path' },
      );
    };
    const having = (test: (value: string) => boolean) => names.find((n) => test(params[n] ?? ''));
    const nul = having((v) => v.includes('\0'));
    if (nul) refuse(nul, 'a value may not contain a NUL character');
    const slash = having((v) => /[/\\]/.test(v));
    if (slash)
      refuse(slash, 'a value may not contain "/" or "\\" (it fills one directory name, and may not add directories)');
    if (names.length > 0 && ['', '.', '..'].includes(filled))
      refuse(
        names[0],
        filled === '' ? 'a value may not leave a directory name empty' : 'a value may not make a directory "." or ".."',
      );
    const equals = filled.split('=').length > 2 ? having((v) => v.includes('=')) : undefined;
    if (equals)
      refuse(
        equals,
        `a value may not contain "=" in the name=value directory ${clip(filled)} (Hive readers split it at its first "=")`,
      );
    // The longest value names the parameter to shorten.
    const longest = [...names].sort((a, b) => (params[b] ?? '').length - (params[a] ?? '').length)[0];
    const bytes = Buffer.byteLength(filled);
    if (bytes > MAX_NAME_BYTES)
      refuse(
        longest,
        `the directory ${clip(filled)} would be ${bytes} bytes; a directory name may have at most ${MAX_NAME_BYTES}`,
      );
    if (i === last && bytes > MAX_PARTITION_NAME_BYTES)
      refuse(
        longest,
        `the partition directory ${clip(filled)} would be ${bytes} bytes; it may have at most ${MAX_PARTITION_NAME_BYTES}, so that the names mlscale gives its staging directories and locks beside it (with a run id of up to 128 characters) fit in ${MAX_NAME_BYTES}`,
      );
  });
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
  const overlaps = (a: string, b: string) => a === b || isInside(a, b) || isInside(b, a);
  // Compared as written, then as the file system resolves them: a symbolic link (dangling ones
  // included) may lead one into the other.
  let shown: [string, string] | undefined;
  if (overlaps(full, sinkRoot)) shown = [full, sinkRoot];
  else {
    const [realFull, realRoot] = [realPathSync(full), realPathSync(sinkRoot)];
    const via = (given: string, real: string) =>
      real === given ? given : `${given} (through a symbolic link, ${real})`;
    if (overlaps(realFull, realRoot)) shown = [via(full, realFull), via(sinkRoot, realRoot)];
  }
  if (shown)
    throw new UsageError(
      `${where}: ${shown[0]} overlaps the sink's root ${shown[1]}; readers of ${sinkRoot}/**/*.parquet would take rejected rows for predictions. Name a directory beside it, such as ${suggestion}.`,
      { code: 'path_escape' },
    );
  return full;
}
