import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

const GLOB_CHARS = /[*?[]/;

function segmentRegex(segment: string): RegExp {
  let re = '';
  for (const ch of segment) {
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Files under dir, recursively, skipping hidden and underscore names (_SUCCESS, .staging). */
async function walk(dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    if (e.name.startsWith('.') || e.name.startsWith('_')) continue;
    const full = path.join(dir, e.name);
    if (e.isDirectory()) await walk(full, out);
    else if (e.isFile()) out.push(full);
  }
}

async function expand(base: string, segments: readonly string[], out: string[]): Promise<void> {
  if (segments.length === 0) {
    const st = await stat(base).catch(() => undefined);
    if (st?.isFile()) out.push(base);
    return;
  }
  const [head, ...rest] = segments as [string, ...string[]];
  if (head === '**') {
    await expand(base, rest, out);
    let entries;
    try {
      entries = await readdir(base, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries)
      if (e.isDirectory() && !e.name.startsWith('.')) await expand(path.join(base, e.name), segments, out);
    return;
  }
  if (!GLOB_CHARS.test(head)) {
    await expand(path.join(base, head), rest, out);
    return;
  }
  let entries;
  try {
    entries = await readdir(base, { withFileTypes: true });
  } catch {
    return;
  }
  const re = segmentRegex(head);
  for (const e of entries) {
    if (e.name.startsWith('.') || !re.test(e.name)) continue;
    if (rest.length === 0 ? e.isFile() : e.isDirectory()) await expand(path.join(base, e.name), rest, out);
  }
}

/**
 * The files a source path names: one file, every file under a directory, or a glob
 * (`*`, `?`, `**`). Sorted, so the order (and with it sharding) is deterministic.
 */
export async function findFiles(pattern: string): Promise<string[]> {
  const abs = path.resolve(pattern);
  if (!GLOB_CHARS.test(abs)) {
    let st;
    try {
      st = await stat(abs);
    } catch {
      return [];
    }
    if (st.isFile()) return [abs];
    const out: string[] = [];
    if (st.isDirectory()) await walk(abs, out);
    return out.sort();
  }
  const parts = abs.split(path.sep).filter(Boolean);
  const firstGlob = parts.findIndex((p) => GLOB_CHARS.test(p));
  const base = path.sep + parts.slice(0, firstGlob).join(path.sep);
  const out: string[] = [];
  await expand(base, parts.slice(firstGlob), out);
  return [...new Set(out)].sort();
}
