import { openAsBlob } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Piscina } from 'piscina';
import { parquetWasm } from '../parquet-thread-worker.js';
import type { DecodeTask } from './parquet-decoder.js';

/** The last file read whole: consecutive row groups of a small file are read from one copy. */
let cached: { file: string; data: Uint8Array } | undefined;

/** Decodes one row group into Arrow IPC streams of at most batchSize rows per record batch. */
export async function decodeRowGroup(task: DecodeTask): Promise<unknown> {
  const pw = await parquetWasm();
  const options = {
    rowGroups: [task.rowGroup],
    batchSize: task.batchSize,
    ...(task.columns ? { columns: [...task.columns] } : {}),
    ...(task.offset !== undefined ? { offset: task.offset } : {}),
    ...(task.limit !== undefined ? { limit: task.limit } : {}),
  };
  if (task.inMemory) {
    if (cached?.file !== task.file) cached = { file: task.file, data: await readFile(task.file) };
    // intoIPCStream takes the table: its wasm memory is released with it.
    return Piscina.move(pw.readParquet(cached.data, options).intoIPCStream());
  }
  cached = undefined;
  // Above IN_MEMORY_MAX, parquet-wasm's async reader fetches only the row group's byte ranges.
  const pf = await pw.ParquetFile.fromFile(await openAsBlob(task.file));
  try {
    const reader = (await pf.stream(options)).getReader();
    const parts: Uint8Array[] = [];
    for (;;) {
      const item = await reader.read();
      if (item.done) break;
      parts.push(item.value.intoIPCStream());
    }
    // Structured clone copies these (one memcpy of the row group), which is little beside decoding it.
    return parts;
  } finally {
    pf.free();
  }
}
