import { parquetWasm, type Answer } from '../parquet-thread-worker.js';
import type { DecodeTask } from './parquet-decoder.js';
import { fileBlob } from './range-blob.js';

/** The last file read whole: consecutive row groups of a small file are read from one copy. */
let cached: { file: string; data: Uint8Array } | undefined;

/**
 * Decodes one row group into Arrow IPC streams of at most batchSize rows per record batch. They
 * move to the main thread without a copy: a copy would be held on both sides until each thread's
 * next garbage collection, about 18 MB a row group apiece.
 */
export async function decodeRowGroup(task: DecodeTask): Promise<Answer> {
  const pw = await parquetWasm();
  const options = {
    rowGroups: [task.rowGroup],
    batchSize: task.batchSize,
    ...(task.columns ? { columns: [...task.columns] } : {}),
    ...(task.offset !== undefined ? { offset: task.offset } : {}),
    ...(task.limit !== undefined ? { limit: task.limit } : {}),
  };
  if (task.inMemory) {
    if (cached?.file !== task.file) {
      const file = await fileBlob(task.file, task.listed);
      try {
        cached = { file: task.file, data: new Uint8Array(await file.blob.arrayBuffer()) };
      } finally {
        await file.close();
      }
    }
    // intoIPCStream takes the table: its wasm memory is released with it.
    const ipc = pw.readParquet(cached.data, options).intoIPCStream();
    return { value: ipc, transfer: [ipc.buffer as ArrayBuffer] };
  }
  cached = undefined;
  // Above IN_MEMORY_MAX, parquet-wasm's async reader fetches only the row group's byte ranges.
  const file = await fileBlob(task.file, task.listed);
  let pf: Awaited<ReturnType<typeof pw.ParquetFile.fromFile>> | undefined;
  try {
    pf = await pw.ParquetFile.fromFile(file.blob as Blob);
    const reader = (await pf.stream(options)).getReader();
    const parts: Uint8Array[] = [];
    for (;;) {
      const item = await reader.read();
      if (item.done) break;
      parts.push(item.value.intoIPCStream());
    }
    return { value: parts, transfer: parts.map((p) => p.buffer as ArrayBuffer) };
  } finally {
    pf?.free();
    await file.close();
  }
}
