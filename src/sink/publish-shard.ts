import type { Dirent } from 'node:fs';
import { copyFile, link, mkdir, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Shard } from '../config/job.js';
import { classify, isComplete, keeps, keepsOther, legacyName, SUCCESS_FILE } from './partition-files.js';
import { publishDir, siblings } from './publish-dir.js';

/**
 * Publishes one shard's files into a partition directory that other shards share, all at once:
 * a new directory is built beside it from hard links (the other shards' current files, then
 * this shard's new ones) and swapped in with publishDir. Readers see the old or the new set of
 * this shard's files, never a mix, and no other shard's file goes missing. The caller holds the
 * partition's publish lock, so no two publishes build on the same old directory.
 *
 * `files` maps each published name to the staged file it links to. `signal` is checked last
 * before the swap: an abort before it publishes nothing.
 */
export async function publishShard(
  target: string,
  shard: Shard,
  runId: string,
  files: ReadonlyMap<string, string>,
  signal?: AbortSignal,
): Promise<void> {
  const next = siblings(target).next(runId);
  await rm(next, { recursive: true, force: true });
  await mkdir(path.dirname(next), { recursive: true });
  await mkdir(next);
  try {
    const present = [shard, ...(await carryOver(target, next, shard))];
    for (const [name, from] of files) await linkOrCopy(from, path.join(next, name));
    if (isComplete(present)) await writeFile(path.join(next, SUCCESS_FILE), '');
    signal?.throwIfAborted();
    await publishDir(next, target, runId);
  } catch (err) {
    await rm(next, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

/** Links into `next` what a publish by `shard` keeps of `target`; returns the shards kept. */
async function carryOver(target: string, next: string, shard: Shard): Promise<Shard[]> {
  const kept: Shard[] = [];
  const entries = await readdir(target, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  for (const e of entries) {
    const from = path.join(target, e.name);
    const entry = classify(e.name, e.isDirectory());
    if (entry.kind === 'success') continue;
    if (entry.kind === 'other') {
      if (keepsOther(shard, e.name)) await linkEntry(e, from, path.join(next, e.name));
      continue;
    }
    if (!keeps(shard, entry.shard)) continue;
    kept.push(entry.shard);
    if (entry.kind !== 'legacy') {
      await link(from, path.join(next, e.name));
      continue;
    }
    // A shard directory of the previous layout: its files move to partition depth, renamed.
    for (const name of await readdir(from)) {
      const to = legacyName(entry.shard, name);
      if (to) await link(path.join(from, name), path.join(next, to));
    }
  }
  return kept;
}

/** A hard link, or a copy where `to` is on another file system (a rejects tree elsewhere). */
async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await copyFile(from, to);
  }
}

/** Recreates someone else's file, link or tree in `to` from hard links (directories cannot be linked). */
async function linkEntry(e: Dirent, from: string, to: string): Promise<void> {
  if (e.isSymbolicLink()) await symlink(await readlink(from), to);
  else if (e.isFile()) await link(from, to);
  else if (e.isDirectory()) {
    await mkdir(to);
    for (const child of await readdir(from, { withFileTypes: true }))
      await linkEntry(child, path.join(from, child.name), path.join(to, child.name));
  }
}
