import type { Answer } from '../task-serve.js';
import { loadParquetWasm, type ParquetWasm } from '../parquet-wasm.js';
import type { DecodeTask } from './parquet-decoder.js';
import { fileBlob } from './range-blob.js';

/**
 * The last file read whole: consecutive row groups of a small file are read from one copy. It is
 * the copy of the file as a run listed it (size and modification time): this thread serves every
 * run of the process (the scheduler's), and a later run that lists a rewritten file reads it anew.
 */
let cached: { file: string; size: number; mtimeMs: number; data: Uint8Array } | undefined;

type Reader = ReadableStreamDefaultReader<{ numRows: number; intoIPCStream(): Uint8Array }>;

/** What one decode task gives: Arrow IPC streams. */
export interface Decoded {
  readonly ipc: Uint8Array[];
}

/**
 * The row group being read by ranges, left open between tasks: a task asks for a few batches,
 * and the next one goes on from where it stopped. parquet-wasm fetches a row group's column
 * chunks once, when its first batch is read, and decodes one batch per read; a task per slice
 * (not per row group) keeps a few batches in flight between the threads instead of two whole row
 * groups, whatever size the writer gave them.
 */
interface Cursor {
  readonly key: string;
  /** The source (one run's read) it belongs to. */
  readonly reader: string;
  readonly stream: Reader;
  /** The row the next read starts at. */
  at: number;
  /** Frees the file's bytes the reader has copied into its memory (range-blob.ts). */
  release(): void;
  close(): Promise<void>;
}

/**
 * Open row groups, the most recently used last: one per source reading by ranges, so that two
 * runs on this thread (the scheduler's) do not close each other's at every slice (each reopen
 * fetches the row group's column chunks again).
 */
const cursors: Cursor[] = [];
const MAX_CURSORS = 4;

/**
 * Decodes a slice of one row group into Arrow IPC streams of at most batchSize rows per record
 * batch. They move to the main thread without a copy: a copy would be held on both sides until
 * each thread's next garbage collection.
 */
export async function decodeRowGroup(task: DecodeTask): Promise<Answer> {
  const pw = await loadParquetWasm();
  const offset = task.offset ?? 0;
  const value = task.inMemory ? await decodeWhole(pw, task, offset) : await decodeRanges(pw, task, offset);
  return { value, transfer: value.ipc.map((p) => p.buffer as ArrayBuffer) };
}

async function decodeWhole(pw: ParquetWasm, task: DecodeTask, offset: number): Promise<Decoded> {
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
  const limit = task.batches === undefined ? undefined : task.batches * task.batchSize;
  // intoIPCStream takes the table: its wasm memory is released with it.
  const ipc = pw
    .readParquet(copy.data, {
      rowGroups: [task.rowGroup],
      batchSize: task.batchSize,
      ...(task.columns ? { columns: [...task.columns] } : {}),
      ...(offset > 0 ? { offset } : {}),
      ...(limit !== undefined ? { limit } : {}),
    })
    .intoIPCStream();
  return { ipc: [ipc] };
}

async function decodeRanges(pw: ParquetWasm, task: DecodeTask, offset: number): Promise<Decoded> {
  cached = undefined;
  if (task.alone && task.batches !== undefined) return decodeAlone(pw, task, offset, task.batches);
  const key = JSON.stringify([
    task.reader,
    task.file,
    task.listed,
    task.rowGroup,
    task.batchSize,
    task.columns ?? null,
  ]);
  let c = cursors.find((x) => x.key === key);
  if (c && c.at !== offset) {
    await close(c);
    c = undefined;
  }
  if (c) cursors.splice(cursors.indexOf(c), 1);
  else {
    // The source's previous row group, and the least recently used beyond MAX_CURSORS, go.
    for (const old of cursors.filter((x) => x.reader === task.reader)) await close(old);
    while (cursors.length >= MAX_CURSORS) await close(cursors[0]!);
    c = await openCursor(pw, task, key, offset);
  }
  cursors.push(c);
  const ipc: Uint8Array[] = [];
  try {
    while (task.batches === undefined || ipc.length < task.batches) {
      const item = await c.stream.read();
      c.release();
      if (item.done) {
        await close(c);
        return { ipc };
      }
      c.at += item.value.numRows;
      ipc.push(item.value.intoIPCStream());
    }
  } catch (err) {
    await close(c);
    throw err;
  }
  return { ipc };
}

/** A task's rows alone (DecodeTask.alone), from a reader opened for them and closed after. */
async function decodeAlone(pw: ParquetWasm, task: DecodeTask, offset: number, batches: number): Promise<Decoded> {
  const c = await openCursor(pw, task, '', offset, batches * task.batchSize);
  const ipc: Uint8Array[] = [];
  try {
    for (;;) {
      const item = await c.stream.read();
      c.release();
      if (item.done) return { ipc };
      ipc.push(item.value.intoIPCStream());
    }
  } finally {
    await close(c);
  }
}

/** Above IN_MEMORY_MAX, parquet-wasm's async reader fetches only the row group's byte ranges. */
async function openCursor(pw: ParquetWasm, task: DecodeTask, key: string, offset: number, limit?: number) {
  const file = await fileBlob(task.file, task.listed);
  let pf: Awaited<ReturnType<typeof pw.ParquetFile.fromFile>> | undefined;
  try {
    pf = await pw.ParquetFile.fromFile(file.blob as Blob);
    const stream = await pf.stream({
      rowGroups: [task.rowGroup],
      batchSize: task.batchSize,
      ...(task.columns ? { columns: [...task.columns] } : {}),
      ...(offset > 0 ? { offset } : {}),
      ...(limit !== undefined ? { limit } : {}),
    });
    const opened = pf;
    return {
      key,
      reader: task.reader ?? '',
      at: offset,
      stream: stream.getReader() as Reader,
      release: file.release,
      async close() {
        opened.free();
        file.release();
        await file.close();
      },
    };
  } catch (err) {
    pf?.free();
    await file.close();
    throw err;
  }
}

/** Lets go of an open row group (its file, its column chunks in wasm memory). */
async function close(c: Cursor): Promise<void> {
  const at = cursors.indexOf(c);
  if (at >= 0) cursors.splice(at, 1);
  await c.stream.cancel().catch(() => undefined);
  await c.close();
}

/** Lets go of the row groups a source holds open, when it stops (perhaps before their end). */
export async function forgetCursors(reader: string): Promise<void> {
  for (const c of cursors.filter((x) => x.reader === reader)) await close(c);
}
