import type { FileAccess } from '../source/file-access.js';
import type { S3Client, S3Object } from './client.js';
import { findObjects } from './find-objects.js';
import { objectBlob } from './object-blob.js';
import { parseS3, s3Url } from './s3-url.js';

/**
 * The Parquet source's file access over an S3-compatible store: files are s3:// URLs, found by
 * one listing, read by ranged GETs pinned to the ETag the listing showed.
 */
export function objectFiles(client: S3Client): FileAccess {
  const listed = new Map<string, S3Object>();
  // The last file's Blob, kept: consecutive row groups of one file share its cached footer.
  let last: { file: string; blob: Blob } | undefined;
  const object = (file: string) => {
    const o = listed.get(file);
    if (!o) throw new Error(`s3: ${file} was not listed`);
    return { ...parseS3(file), o };
  };
  const failing =
    <A extends unknown[], R>(f: (file: string, ...a: A) => Promise<R>) =>
    async (file: string, ...a: A): Promise<R> => {
      try {
        return await f(file, ...a);
      } catch (err) {
        throw client.explain(err, file);
      }
    };
  return {
    concurrency: 16,
    async find(pattern) {
      let objects: S3Object[];
      try {
        objects = await findObjects(client, pattern);
      } catch (err) {
        throw client.explain(err, pattern);
      }
      const { bucket } = parseS3(pattern);
      return objects.map((o) => {
        const file = s3Url(bucket, o.key);
        listed.set(file, o);
        return { file, size: o.size, mtimeMs: o.lastModified };
      });
    },
    blob: failing(async (file) => {
      if (last?.file === file) return last.blob;
      const { bucket, key, o } = object(file);
      // Duck-typed: parquet-wasm only calls size, slice and arrayBuffer.
      last = { file, blob: objectBlob(client, bucket, key, o.size, o.etag) as unknown as Blob };
      return last.blob;
    }),
    readAll: failing(async (file) => {
      const { bucket, key, o } = object(file);
      return client.get(bucket, key, undefined, o.etag);
    }),
  };
}
