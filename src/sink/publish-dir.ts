import { readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Shard } from '../config/job.js';
import { shardTag } from './partition-files.js';

// Publishing a directory by rename, and recovering from a publish that was killed half way.
//
// A directory cannot be renamed over a non-empty one, so a publish is two renames: the live
// directory aside, then the new one into place. A kill between them leaves no live directory;
// recovery (run under the partition's publish lock before anything else touches it) puts the
// copy set aside back. Nothing live is deleted, and no half-built directory is ever published.

/**
 * Names beside `target`, all hidden (a leading dot) from readers. Staging directories carry the
 * shard, so a run cleaning up after dead runs of its shard never touches another shard's.
 */
export function siblings(target: string): {
  /** Where a run of `shard` writes its files until it publishes. */
  staging: (shard: Shard, runId: string) => string;
  /** What every staging directory of `shard` starts with. */
  stagingPrefix: (shard: Shard) => string;
  /** The new partition directory a publish builds, then renames into place. */
  next: (runId: string) => string;
  /** Where a publish moves the live directory while it renames the new one into place. */
  aside: (runId: string) => string;
  /** Held by a run of `shard` from start to end: one run per job, partition and shard. */
  runLock: (shard: Shard) => string;
  /** Held by any shard's run while it recovers or swaps the partition directory. */
  publishLock: string;
} {
  const dir = path.dirname(target);
  const base = path.basename(target);
  const prefix = `.${base}.mlscale`;
  // Run ids are [A-Za-z0-9_.-]: '@', '+' and '~' keep each kind of name apart from the others.
  const stagingPrefix = (shard: Shard) =>
    path.join(dir, shard.count > 1 ? `${prefix}@${shardTag(shard)}-` : `${prefix}-`);
  return {
    staging: (shard, runId) => `${stagingPrefix(shard)}${runId}`,
    stagingPrefix,
    next: (runId) => path.join(dir, `${prefix}+${runId}`),
    aside: (runId) => path.join(dir, `${prefix}~old-${runId}`),
    runLock: (shard) => path.join(dir, shard.count > 1 ? `.${base}.${shardTag(shard)}.lock` : `.${base}.lock`),
    publishLock: path.join(dir, `.${base}.publish.lock`),
  };
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

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
  // Published: a copy left behind is removed by the next recovery, so it cannot fail the run.
  if (moved) await rm(aside, { recursive: true, force: true }).catch(() => undefined);
}

/** Whether a publish into `target` died half way (or is under way): what recoverDir would act on. */
export async function needsRecovery(target: string): Promise<boolean> {
  const prefix = `.${path.basename(target)}.mlscale`;
  const names = await readdir(path.dirname(target)).catch(() => [] as string[]);
  return names.some((n) => n.startsWith(`${prefix}~`) || n.startsWith(`${prefix}+`));
}

/**
 * Brings `target` back to a live state after any crash, then removes the set-aside copies and
 * half-built directories publishes left beside it. When `target` is missing and a copy was set
 * aside (a publish killed between its two renames), the newest such copy goes live again: the
 * killed run never reached its commit point, so the directory it built is discarded, never
 * published by someone else's run. Staging directories are not touched: another shard's run may
 * be writing one (see removeStaging). Returns what it put back, if anything.
 */
export async function recoverDir(target: string): Promise<string | undefined> {
  const dir = path.dirname(target);
  const prefix = `.${path.basename(target)}.mlscale`;
  const names = (await readdir(dir).catch(() => [] as string[])).filter(
    (n) => n.startsWith(`${prefix}~`) || n.startsWith(`${prefix}+`),
  );
  let restored: string | undefined;
  if (!(await exists(target))) {
    const candidates: { full: string; mtime: number }[] = [];
    for (const name of names) {
      if (!name.startsWith(`${prefix}~`)) continue;
      const full = path.join(dir, name);
      const st = await stat(full).catch(() => undefined);
      if (st?.isDirectory()) candidates.push({ full, mtime: st.mtimeMs });
    }
    const pick = candidates.sort((a, b) => b.mtime - a.mtime)[0];
    if (pick) {
      await rename(pick.full, target);
      restored = pick.full;
    }
  }
  // Any copy set aside was live once: only once one is live again is anything removed.
  const live = await exists(target);
  for (const name of names) {
    const full = path.join(dir, name);
    if (full === restored || (!live && name.startsWith(`${prefix}~`))) continue;
    await rm(full, { recursive: true, force: true });
  }
  return restored;
}

/**
 * Removes the staging directories dead runs of `shard` left beside `target`, except `keep` (one
 * being resumed). The caller holds the shard's run lock, so no live run owns any of them.
 */
export async function removeStaging(target: string, shard: Shard, keep?: string): Promise<void> {
  const prefix = siblings(target).stagingPrefix(shard);
  const dir = path.dirname(target);
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const full = path.join(dir, name);
    if (full.startsWith(prefix) && full !== keep) await rm(full, { recursive: true, force: true });
  }
}
