import { readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

// Publishing a directory by rename, and recovering from a publish that was killed half way.
//
// A directory cannot be renamed over a non-empty one, so a publish is two renames: the live
// directory aside, then the staged one into place. A kill between them leaves no live
// directory; recovery (run first by the next run of this partition, under its lock) puts a
// complete copy back before anything else is touched. Nothing complete is deleted while no
// copy is live.

/** Marks a directory as complete: written last into a staging directory. */
export const SUCCESS_FILE = '_SUCCESS';

/** Names beside `target`: all start with `.<name>.mlscale`, hidden from readers. */
export function siblings(target: string): {
  prefix: string;
  staging: (runId: string) => string;
  aside: (runId: string) => string;
} {
  const dir = path.dirname(target);
  const prefix = `.${path.basename(target)}.mlscale`;
  return {
    prefix,
    staging: (runId) => path.join(dir, `${prefix}-${runId}`),
    // '~' cannot occur in a run id, so an aside copy is never mistaken for a staging directory.
    aside: (runId) => path.join(dir, `${prefix}~old-${runId}`),
  };
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

const complete = (dir: string) => exists(path.join(dir, SUCCESS_FILE));

/** Replaces `target` with the complete directory `staged`; see the module comment for the order. */
export async function publishDir(staged: string, target: string, runId: string): Promise<void> {
  const aside = siblings(target).aside(runId);
  let moved = false;
  try {
    await rename(target, aside);
    moved = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  try {
    await rename(staged, target);
  } catch (err) {
    if (moved) await rename(aside, target).catch(() => undefined);
    throw err;
  }
  if (moved) await rm(aside, { recursive: true, force: true });
}

/**
 * Brings `target` back to a live, complete state after any crash, then removes what earlier
 * runs left beside it, except `keep` (a staging directory being resumed). When `target` is
 * missing and a copy was set aside (a publish killed between its two renames), the newest such
 * copy goes live again: the killed run never reached its commit point, so its staged copy is
 * discarded, never published by someone else's run. Returns what it put back, if anything.
 */
export async function recoverDir(target: string, keep?: string): Promise<string | undefined> {
  const dir = path.dirname(target);
  const { prefix } = siblings(target);
  const names = (await readdir(dir).catch(() => [] as string[])).filter(
    (n) => n.startsWith(`${prefix}-`) || n.startsWith(`${prefix}~`),
  );
  let restored: string | undefined;
  if (!(await exists(target))) {
    const candidates: { full: string; mtime: number }[] = [];
    for (const name of names) {
      const full = path.join(dir, name);
      if (!name.startsWith(`${prefix}~`) || !(await complete(full))) continue;
      candidates.push({ full, mtime: (await stat(path.join(full, SUCCESS_FILE))).mtimeMs });
    }
    candidates.sort((a, b) => b.mtime - a.mtime);
    const pick = candidates[0];
    if (pick) {
      await rename(pick.full, target);
      restored = pick.full;
    }
  }
  // Only once a copy is live is anything else removed.
  if (await exists(target)) {
    for (const name of names) {
      const full = path.join(dir, name);
      if (full !== keep && full !== restored) await rm(full, { recursive: true, force: true });
    }
  } else {
    // Never published: only incomplete leftovers of dead runs are here.
    for (const name of names) {
      const full = path.join(dir, name);
      if (full !== keep) await rm(full, { recursive: true, force: true });
    }
  }
  return restored;
}
