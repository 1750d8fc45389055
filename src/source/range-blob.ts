import { open } from 'node:fs/promises';
import { freeBuffers } from '../free-buffers.js';

/** The part of Blob that parquet-wasm's reader uses: size, slice, arrayBuffer. */
export interface BlobLike {
  readonly size: number;
  slice(start?: number, end?: number): BlobLike;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** A Blob of `size` bytes whose slices are read by `read(start, end)` when parquet-wasm asks for them. */
export function rangeBlob(size: number, read: (start: number, end: number) => Promise<ArrayBuffer>): BlobLike {
  const view = (start: number, end: number): BlobLike => ({
    size: end - start,
    slice: (s = 0, e = end - start) => {
      const clamp = (v: number) => Math.min(end - start, Math.max(0, v < 0 ? end - start + v : v));
      return view(start + clamp(s), start + Math.max(clamp(s), clamp(e)));
    },
    arrayBuffer: () => (end <= start ? Promise.resolve(new ArrayBuffer(0)) : read(start, end)),
  });
  return view(0, size);
}

/**
 * A local file as a Blob whose slices are positioned reads into one buffer each. Node's own file
 * Blob streams a slice in 64 KiB pieces and joins them, which took longer than decoding a row
 * group's column chunks (about 17 MB for 131,072 rows of 32 floats).
 *
 * `release()` frees the buffers read so far, for a caller whose reader copied each as it came
 * (parquet-wasm's async reader: once a read of its stream has returned, the slices it asked for
 * are in its own memory); one that keeps a slice (the whole file, read once) does not call it.
 */
export async function fileBlob(
  file: string,
  listed?: { readonly size: number; readonly mtimeMs: number },
): Promise<{ blob: BlobLike; release(): void; close(): Promise<void> }> {
  const handle = await open(file, 'r');
  try {
    const { size, mtimeMs } = await handle.stat();
    if (listed && (listed.size !== size || listed.mtimeMs !== mtimeMs)) throw new FileChanged(file);
    const handed: ArrayBuffer[] = [];
    const blob = rangeBlob(size, async (start, end) => {
      const out = new ArrayBuffer(end - start);
      let at = 0;
      while (at < out.byteLength) {
        const { bytesRead } = await handle.read(new Uint8Array(out, at), 0, out.byteLength - at, start + at);
        if (bytesRead === 0)
          throw new Error(`${file} ended at byte ${start + at} of ${size}: was it truncated while read?`);
        at += bytesRead;
      }
      // Only a read that has finished: a buffer still being read into is never freed.
      handed.push(out);
      return out;
    });
    const release = () => freeBuffers(handed.splice(0));
    return { blob, release, close: () => handle.close() };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** A file that is not the one the run listed (its size or modification time differ). */
export class FileChanged extends Error {
  constructor(file: string) {
    super(`${file} changed after the run listed it`);
    this.name = 'FileChanged';
  }
}
