import fs from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import { glob } from 'tinyglobby';
import { RuntimeFailure, UsageError } from '../errors.js';

/**
 * Names that Spark, pyarrow and Hive pass by (`_SUCCESS`, `_mlscale/`, `.ds=….mlscale-run/`), at
 * any depth below what the path names. An ignored directory is not entered at all.
 */
const HIDDEN = ['**/_*', '**/.*'];

/**
 * The files below `dir` that match `pattern` (relative to it), absolute, sorted. A directory the
 * walk cannot list fails the scan, naming it: the walker passes over it without a word, and the
 * run published the rest as if it were the whole source (exit 0).
 */
async function below(dir: string, pattern: string): Promise<string[]> {
  const unlisted: { dir: string; err: NodeJS.ErrnoException }[] = [];
  const readdir = ((at: string, options: unknown, done: (err: NodeJS.ErrnoException | null, e?: unknown) => void) =>
    fs.readdir(at, options as never, (err, entries) => {
      if (err) unlisted.push({ dir: at, err });
      done(err, entries);
    })) as typeof fs.readdir;
  const files = await glob(pattern, {
    cwd: dir,
    absolute: true,
    onlyFiles: true,
    // Both prefixes are skipped through `ignore`, so that `.` and `_` names follow one rule.
    dot: true,
    ignore: HIDDEN,
    expandDirectories: false,
    fs: { ...fs, readdir },
  });
  const first = unlisted.sort((a, b) => (a.dir < b.dir ? -1 : 1))[0];
  if (first) {
    const where = path.resolve(dir, first.dir);
    if (first.err.code === 'ENOENT')
      throw new RuntimeFailure(
        `source: ${where} went away while the run listed the files below it; nothing was published. Run again once the files are written.`,
        { code: 'source_changed', cause: first.err },
      );
    throw new UsageError(
      `source: the directory ${where} cannot be listed (${first.err.code ?? first.err.message}); check that mlscale may read it, or name the files to read in source.parquet.path.`,
      { code: 'source_unreadable', cause: first.err },
    );
  }
  return files.sort();
}

const PARTNER: Record<string, string> = { '[': ']', ']': '[', '{': '}', '}': '{', '(': ')', ')': '(' };

/** picomatch's reason in a sentence's words. */
function globReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const missing = /^Missing (?:closing|opening): "(.)"/.exec(message)?.[1];
  // picomatch names the character that is missing; the one written is its partner.
  if (missing) return `a "${PARTNER[missing] ?? missing}" without its "${missing}"; a backslash makes it literal`;
  // RegExp's own message repeats the whole expression before the reason.
  const reason = message.replace(/^Invalid regular expression: .*: /, '');
  return reason.charAt(0).toLowerCase() + reason.slice(1);
}

/** A pattern picomatch would quietly turn into "matches nothing" is a mistake to name instead. */
export function checkGlob(globPart: string, pattern: string): void {
  try {
    picomatch.makeRe(globPart, { strictBrackets: true, debug: true });
  } catch (err) {
    throw new UsageError(`source: ${pattern} is not a valid glob (${globReason(err)}); fix source.parquet.path.`, {
      code: 'source_glob',
      cause: err,
    });
  }
}

/**
 * The files a source path names: one file, every file under a directory, or a glob (`*`, `?`,
 * `**`, `[0-9]`, `{a,b}`). Below the named directory, or below the part of a glob before its
 * first wildcard, names starting with `_` or `.` are skipped. Sorted, so the order (and with it
 * sharding) is deterministic. A path that exists is taken as it is, even with `(` or `[` in it.
 */
export async function findFiles(pattern: string): Promise<string[]> {
  const abs = path.resolve(pattern);
  const st = await stat(abs).catch(() => undefined);
  if (st?.isFile()) return [abs];
  if (st?.isDirectory()) return below(abs, '**');
  const scan = picomatch.scan(abs);
  if (!scan.isGlob) {
    // An unclosed `[` or `{` makes no glob at all: say so rather than "matches no files".
    if (/[[\]{}()]/.test(abs)) checkGlob(abs, pattern);
    return [];
  }
  checkGlob(scan.glob, pattern);
  const base = scan.base === '' ? path.sep : scan.base;
  if (!(await stat(base).catch(() => undefined))?.isDirectory()) return [];
  return below(base, scan.glob);
}
