import type { Shard } from '../config/job.js';

// Who owns each entry of a published partition directory. Every shard's files sit at partition
// depth (so `*/*.parquet` globs reach them) under names no other shard uses; a publish of one
// shard keeps exactly the entries this module says it keeps.

/** The shard written into file names: empty for an unsharded run, `s1of4` for shard 1 of 4. */
export function shardTag(shard: Shard): string {
  return shard.count > 1 ? `s${shard.index}of${shard.count}` : '';
}

const UNSHARDED: Shard = { index: 0, count: 1 };

/** The n-th data file a run of `shard` publishes: part-00000.parquet, or part-s1of4-00000.parquet. */
export function partFile(shard: Shard, n: number): string {
  const tag = shardTag(shard);
  return `part-${tag ? `${tag}-` : ''}${String(n).padStart(5, '0')}.parquet`;
}

/** The run record of `shard` in the partition: _mlscale_run.json, or _mlscale_run-s1of4.json. */
export function runFile(shard: Shard): string {
  const tag = shardTag(shard);
  return `_mlscale_run${tag ? `-${tag}` : ''}.json`;
}

/** Marks a directory every shard of one count (or an unsharded run) has published into. */
export const SUCCESS_FILE = '_SUCCESS';

/**
 * What an entry of a partition directory is: a data file or run record of one shard, a shard
 * directory of the layout before shard files moved to partition depth (`shard-1-of-4/`, which
 * `legacy` marks), `_SUCCESS`, or something mlscale did not write.
 */
export type Entry =
  | { readonly kind: 'part' | 'run' | 'legacy'; readonly shard: Shard }
  | { readonly kind: 'success' }
  | { readonly kind: 'other' };

const shardOf = (i: string, n: string): Shard | undefined => {
  const shard = { index: Number(i), count: Number(n) };
  return shard.count > 1 && shard.index < shard.count ? shard : undefined;
};

export function classify(name: string, isDirectory: boolean): Entry {
  if (isDirectory) {
    const m = /^shard-(\d+)-of-(\d+)$/.exec(name);
    const shard = m ? shardOf(m[1]!, m[2]!) : undefined;
    return shard ? { kind: 'legacy', shard } : { kind: 'other' };
  }
  if (name === SUCCESS_FILE) return { kind: 'success' };
  if (/^part-\d+\.parquet$/.test(name)) return { kind: 'part', shard: UNSHARDED };
  if (name === runFile(UNSHARDED)) return { kind: 'run', shard: UNSHARDED };
  const m = /^part-s(\d+)of(\d+)-\d+\.parquet$/.exec(name) ?? /^_mlscale_run-s(\d+)of(\d+)\.json$/.exec(name);
  const shard = m ? shardOf(m[1]!, m[2]!) : undefined;
  if (!shard) return { kind: 'other' };
  return { kind: name.startsWith('part-') ? 'part' : 'run', shard };
}

/**
 * Whether a publish by `publisher` keeps what `owner` published: only the other shards of the
 * same count. It replaces its own shard, every other shard count and an unsharded publish, as
 * the Postgres sink replaces rows.
 */
export function keeps(publisher: Shard, owner: Shard): boolean {
  return publisher.count > 1 && owner.count === publisher.count && owner.index !== publisher.index;
}

/**
 * Whether a publish by `publisher` keeps an entry mlscale did not write. An unsharded publish
 * replaces the whole directory, as it always has; a shard leaves others' files alone, except
 * hidden ones (staging and lock files of the old shard layout, which lived inside the partition).
 */
export function keepsOther(publisher: Shard, name: string): boolean {
  return publisher.count > 1 && !name.startsWith('.');
}

/** A legacy shard directory's file under its partition-depth name (undefined: not carried over). */
export function legacyName(shard: Shard, name: string): string | undefined {
  const part = /^part-(\d+)\.parquet$/.exec(name);
  if (part) return partFile(shard, Number(part[1]));
  return name === runFile(UNSHARDED) ? runFile(shard) : undefined;
}

/** Whether the shards present make the partition whole: an unsharded publish, or all N of one count. */
export function isComplete(present: readonly Shard[]): boolean {
  if (present.some((s) => s.count === 1)) return true;
  const counts = new Set(present.map((s) => s.count));
  return [...counts].some((n) => new Set(present.filter((s) => s.count === n).map((s) => s.index)).size === n);
}
