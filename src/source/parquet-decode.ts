import type { Answer } from '../task-serve.js';
import { loadParquetWasm } from '../parquet-wasm.js';
import type { DecodeTask } from './parquet-decoder.js';
import { fileBlob } from './range-blob.js';

/**
 * The last file read whole: consecutive row groups of a small file are read from one copy. It is
 * the copy of the file as a run listed it (size and modification time): this thread serves every
 * run of the process (the scheduler's), and a later run that lists a rewritten file reads it anew.
 */
let cached: { file: string; size: number; mtimeMs: number; data: Uint8Array } | undefined;

/**
 * Decodes one row group into Arrow IPC streams of at most batchSize rows per record batch. They
 * move to the main thread without a copy: a copy would be held on both sides until each thread's
 * next garbage collection, about 18 MB a row group apiece.
 */
export async function decodeRowGroup(task: DecodeTask): Promise<Answer> {
  const pw = await loadParquetWasm();
  const options = {
    rowGroups: [task.rowGroup],
    batchSize: task.batchSize,
    ...(task.columns ? { columns: [...task.columns] } : {}),
    ...(task.offset !== undefined ? { offset: task.offset } : {}),
    ...(task.limit !== undefined ? { limit: task.limit } : {}),
  };
  if (task.inMemory) {
    const listed = task.listed;
    let copy = cached;
    if (!(copy && copy.file === task.file && copy.size === listed.size && copy.mtimeMs === listed.mtimeMs)) {
      cached = undefined;
      const file = await fileBlob(task.file, listed);
      try {
        const data = new Uint8Array(await file.blob.arrayBuffer());
        copy = cached = { file: task.file, ...listed, data };
      } finally {
        await file.close();
      }
    }
    // intoIPCStream takes the table: its wasm memory is released with it.
    const ipc = pw.readParquet(copy.data, options).intoIPCStream();
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
