import type { S3Client } from './client.js';
import { s3Url } from './s3-url.js';
import { rangeBlob, type BlobLike } from '../source/range-blob.js';

export type { BlobLike };

/** Bytes read at once from a file's end: its footer, in one request for any usual file. */
const TAIL_BYTES = 64 * 1024;

/**
 * An object read as a Blob by ranged GETs: parquet-wasm asks for the footer, then for the column
 * chunks of the row groups and columns it decodes, so only those bytes cross the network and
 * memory holds one row group's chunks at a time. The last 64 KiB are fetched once, so the
 * footer costs one request. Every GET names the listed ETag: an object rewritten while it is
 * read fails (412) instead of mixing two versions.
 */
export function objectBlob(client: S3Client, bucket: string, key: string, size: number, etag: string): BlobLike {
  let tail: Promise<Uint8Array> | undefined;
  const tailStart = Math.max(0, size - TAIL_BYTES);
  const read = async (start: number, end: number): Promise<ArrayBuffer> => {
    let bytes: Uint8Array;
    try {
      if (start >= tailStart) {
        tail ??= client.get(bucket, key, [tailStart, size], etag);
        bytes = (await tail).slice(start - tailStart, end - tailStart);
      } else {
        bytes = await client.get(bucket, key, [start, end], etag);
      }
    } catch (err) {
      // parquet-wasm passes the message on: make it mlscale's sentence.
      throw client.explain(err, s3Url(bucket, key));
    }
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  };
  return rangeBlob(size, read);
}
