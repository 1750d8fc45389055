import { openAsBlob } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';

/**
 * How the Parquet source reaches the bytes of the files it lists: local files, or objects in a
 * store (src/s3/object-files.ts). Everything else about reading (footers, row groups, shards,
 * decoding) is the same for both.
 */
export interface FileAccess {
  /** The files a source path names, sorted, with their size and a version stamp. */
  find(pattern: string): Promise<{ file: string; size: number; mtimeMs: number }[]>;
  /** The file as a Blob parquet-wasm reads by slices (ranges). */
  blob(file: string): Promise<Blob>;
  /** Footers read at once while scanning (a store's latency is hidden by asking in parallel). */
  readonly concurrency?: number;
  /** The whole file, for the in-memory reader. */
  readAll(file: string): Promise<Uint8Array>;
}

export function localFiles(findFiles: (pattern: string) => Promise<string[]>): FileAccess {
  return {
    async find(pattern) {
      const out = [];
      for (const file of await findFiles(pattern)) {
        const st = await stat(file);
        out.push({ file, size: st.size, mtimeMs: st.mtimeMs });
      }
      return out;
    },
    blob: (file) => openAsBlob(file),
    readAll: (file) => readFile(file),
  };
}
