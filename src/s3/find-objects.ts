import picomatch from 'picomatch';
import { checkGlob } from '../source/find-files.js';
import type { S3Client, S3Object } from './client.js';
import { parseS3 } from './s3-url.js';

/** A key below the listed prefix that Spark, pyarrow and Hive pass by: a `_` or `.` name at any depth. */
const hidden = (relative: string) => relative.split('/').some((s) => s.startsWith('_') || s.startsWith('.'));

/**
 * The objects an s3:// source path names, as findFiles does for files: one key, every key
 * under a prefix (read as a directory), or a glob over keys (`*`, `?`, `**`, `[0-9]`, `{a,b}`).
 * Below the prefix (or the part of a glob before its first wildcard), `_` and `.` names are
 * skipped. One listing, whatever the pattern; sorted by key, so sharding is deterministic.
 */
export async function findObjects(client: S3Client, pattern: string): Promise<S3Object[]> {
  const { bucket, key } = parseS3(pattern, 'source.parquet.path');
  const scan = picomatch.scan(key);
  if (!scan.isGlob) {
    if (/[[\]{}()]/.test(key)) checkGlob(key, pattern);
    const all = await client.list(bucket, key);
    const exact = all.find((o) => o.key === key);
    if (exact) return [exact];
    const dir = key === '' || key.endsWith('/') ? key : `${key}/`;
    return all.filter((o) => o.key.startsWith(dir) && !hidden(o.key.slice(dir.length)));
  }
  checkGlob(scan.glob, pattern);
  const base = scan.base === '' ? '' : `${scan.base}/`;
  const match = picomatch(scan.glob, { dot: true });
  return (await client.list(bucket, base)).filter((o) => {
    const rel = o.key.slice(base.length);
    return !hidden(rel) && match(rel);
  });
}
