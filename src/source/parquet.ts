import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { DataType, RecordBatchReader, tableFromIPC, type RecordBatch, type Schema } from 'apache-arrow';
import { MlscaleError, RuntimeFailure, UsageError } from '../errors.js';
import { loadParquetWasm, parquetWasmSync, type ParquetWasm } from '../parquet-wasm.js';
import type { Source } from './source.js';
import { ParquetDecoder, type DecodeTask } from './parquet-decoder.js';
import type { Decoded } from './parquet-decode.js';
import { readFootersOnThread } from '../parquet-thread.js';
import { benchSerial } from '../run/bench-serial.js';
import { FileChanged } from './range-blob.js';
import { lend } from './lent-buffers.js';
import { firstLineOf, readFooter, type FooterResult } from './parquet-footer.js';
import { findFiles } from './find-files.js';
import { localFiles, type FileAccess } from './file-access.js';

/** The local file system, as the Parquet source reads it unless told otherwise. */
export const LOCAL_FILES: FileAccess = localFiles(findFiles);

export interface ParquetSourceOptions {
  readonly batchSize: number;
  /** Only these columns are decoded (features and keys); undefined reads all. */
  readonly columns?: readonly string[];
}

/** One row group of one file: the unit of reading, and of sharding. */
export interface RowGroupRef {
  readonly file: string;
  readonly fileSize: number;
  /** Last modification, so a file rewritten in place no longer looks like the one read before. */
  readonly mtimeMs: number;
  readonly rowGroup: number;
  readonly rows: number;
}

async function assertParquet(file: string, size: number, blob: Blob): Promise<void> {
  let head = '';
  let tail = '';
  if (size >= 12) {
    head = Buffer.from(await blob.slice(0, 4).arrayBuffer()).toString('latin1');
    tail = Buffer.from(await blob.slice(size - 4, size).arrayBuffer()).toString('latin1');
  }
  if (head !== 'PAR1' || tail !== 'PAR1') {
    throw new UsageError(
      `source: ${file} is not a Parquet file (no PAR1 magic); point source.parquet.path at .parquet files only.`,
      { code: 'source_not_parquet' },
    );
  }
}

type FileSchema = { schema: Schema; groups: RowGroupRef[] };

function footerError(file: string, kind: 'open' | 'footer', message: string, cause?: unknown): UsageError {
  return kind === 'open'
    ? new UsageError(`source: ${file} is not a readable Parquet file (${message}); check the file.`, {
        code: 'source_not_parquet',
        cause,
      })
    : new UsageError(`source: ${file} has a footer mlscale cannot decode (${message}); check the file.`, {
        code: 'source_not_parquet',
        cause,
      });
}

function fileSchema(
  file: string,
  fileSize: number,
  mtimeMs: number,
  schemaIpc: Uint8Array,
  rowGroups: readonly number[],
): FileSchema {
  try {
    const reader = RecordBatchReader.from(schemaIpc);
    reader.open();
    const groups = rowGroups.map((rows, i) => ({ file, fileSize, mtimeMs, rowGroup: i, rows }));
    return { schema: reader.schema, groups };
  } catch (err) {
    throw footerError(file, 'footer', (err as Error).message, err);
  }
}

/** Files checked and footers asked of the Parquet thread at once: a directory of thousands is still many tasks. */
const FILES_AT_ONCE = 64;

type Listed = { readonly file: string; readonly size: number; readonly mtimeMs: number };

/**
 * Local files' schemas, read on the Parquet thread (which then decodes their row groups), a few
 * dozen footers a task: one at a time, the 4 footers of a run's source took 40-50 ms before its
 * first chunk. A failure is the first file's in order, as one at a time.
 */
async function scanLocal(files: readonly Listed[]): Promise<{ file: string; info: FileSchema }[]> {
  const out: { file: string; info: FileSchema }[] = [];
  for (let at = 0; at < files.length; at += FILES_AT_ONCE) {
    const some = files.slice(at, at + FILES_AT_ONCE);
    const magic = await Promise.allSettled(some.map((f) => checkMagic(f)));
    const bad = magic.findIndex((m) => m.status === 'rejected');
    const good = bad === -1 ? some : some.slice(0, bad);
    for (const [i, info] of (await localSchemas(good)).entries()) out.push({ file: good[i]!.file, info });
    if (bad !== -1) throw (magic[bad] as PromiseRejectedResult).reason;
  }
  return out;
}

/** A listed file's PAR1 magic, or why it cannot be read: changed or gone since it was listed, or not readable. */
async function checkMagic({ file, size, mtimeMs }: Listed): Promise<void> {
  try {
    const blob = await LOCAL_FILES.blob(file);
    if (blob.size !== size) throw new FileChanged(file);
    await assertParquet(file, size, blob);
  } catch (err) {
    // Changed first: a file rewritten since the listing may now lack the magic, or any byte.
    if (err instanceof FileChanged || (await changedSinceListed(file, size, mtimeMs))) throw changedError(file, err);
    if (err instanceof MlscaleError) throw err;
    const denied = await access(file, constants.R_OK).then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e.code ?? e.message,
    );
    throw new UsageError(
      `source: ${file} cannot be read (${denied ?? firstLineOf(err)}); check that mlscale may read it.`,
      { code: 'source_unreadable', cause: err },
    );
  }
}

function changedError(file: string, cause: unknown): RuntimeFailure {
  return new RuntimeFailure(
    `source: ${file} changed after the run listed it (its size or modification time differ, or it is gone); nothing was published. Run again once the files are written.`,
    { code: 'source_changed', cause },
  );
}

async function localSchemas(files: readonly Listed[]): Promise<FileSchema[]> {
  if (files.length === 0) return [];
  let results: FooterResult[];
  try {
    results = await readFootersOnThread(files.map((f) => f.file));
  } catch (err) {
    // The decoder trapped on one of them and took its thread down: one at a time, to name it.
    if (files.length === 1) throw footerError(files[0]!.file, 'open', firstLineOf(err), err);
    const out: FileSchema[] = [];
    for (const f of files) out.push(...(await localSchemas([f])));
    return out;
  }
  return files.map(({ file, size, mtimeMs }, i) => {
    const r = results[i]!;
    if ('error' in r) throw footerError(file, r.error, r.message);
    return fileSchema(file, size, mtimeMs, r.schema, r.rowGroups);
  });
}

/** An object's footer, read on this thread through the store's client. */
async function readSchema(
  pw: ParquetWasm,
  file: string,
  fileSize: number,
  mtimeMs: number,
  blob: Blob,
): Promise<FileSchema> {
  const r = await readFooter(pw, blob);
  if ('error' in r) throw footerError(file, r.error, r.message);
  return fileSchema(file, fileSize, mtimeMs, r.schema, r.rowGroups);
}

/**
 * Opens a Parquet file, directory or glob. Reads footers only; rows are decoded later, one
 * row group at a time, so memory follows the row group and batch size, not the input size.
 */
export interface ParquetFiles {
  readonly pattern: string;
  readonly schema: Schema;
  readonly groups: readonly RowGroupRef[];
  /** Each file's columns and their types, to check that every file has what the job reads, alike. */
  readonly columnsByFile: ReadonlyMap<string, ReadonlyMap<string, DataType>>;
  /** How the files are read (local, or an object store). */
  readonly access: FileAccess;
}

/** Finds the files and reads their footers (schema, row groups); no rows are decoded. */
export async function scanParquet(pattern: string, access: FileAccess = LOCAL_FILES): Promise<ParquetFiles> {
  const files = await access.find(pattern);
  if (files.length === 0) {
    throw new UsageError(
      `source: ${pattern} matches no files; check source.parquet.path and the parameters in it (such as ds).`,
      { code: 'source_empty' },
    );
  }
  // Local files are read on the Parquet thread (footers, then row groups): this thread never
  // loads parquet-wasm for them. An object store's are read here, through its client.
  const local = access === LOCAL_FILES;
  const pw = local ? undefined : await loadParquetWasm();
  let schema: Schema | undefined;
  const groups: RowGroupRef[] = [];
  const columnsByFile = new Map<string, Map<string, DataType>>();
  const infos = pw
    ? await inOrder(files, access.concurrency ?? 1, async ({ file, size, mtimeMs }) => {
        const blob = await access.blob(file);
        await assertParquet(file, size, blob);
        return { file, info: await readSchema(pw, file, size, mtimeMs, blob) };
      })
    : await scanLocal(files);
  for (const { file, info } of infos) {
    schema ??= info.schema;
    columnsByFile.set(file, new Map(info.schema.fields.map((f) => [f.name, f.type])));
    groups.push(...info.groups);
  }
  return { pattern, schema: schema!, groups, columnsByFile, access };
}

/**
 * `work` over `items`, `limit` at a time, results in order. A failure is the first in item order
 * among those tried, so the same bad input always names the same file.
 */
async function inOrder<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let at = 0; at < items.length; at += limit) {
    const settled = await Promise.allSettled(items.slice(at, at + limit).map(work));
    for (const r of settled) {
      if (r.status === 'rejected') throw r.reason;
      out.push(r.value);
    }
  }
  return out;
}

/**
 * Every file must carry the columns the job reads, each of one type in all files: otherwise the
 * run would fail half way, or worse, read one file's values as another type (a string column
 * scored as NaN, a key that cannot be written).
 */
export function requireColumns(files: ParquetFiles, columns: readonly string[]): void {
  const first = new Map<string, { file: string; type: DataType }>();
  for (const [file, have] of files.columnsByFile) {
    const missing = columns.find((c) => !have.has(c));
    if (missing) {
      throw new UsageError(
        `source: ${file} has no column "${missing}" (have: ${[...have.keys()].join(', ')}); all files must share the job's columns.`,
        { code: 'column_missing' },
      );
    }
    for (const c of columns) {
      const type = have.get(c)!;
      const seen = first.get(c);
      if (!seen) first.set(c, { file, type });
      else if (!sameArrowType(seen.type, type)) {
        throw new UsageError(
          `source: column "${c}" is ${String(seen.type)} in ${seen.file} but ${String(type)} in ${file}; all files must agree on the type of every column the job reads (rewrite one of them with the other's type).`,
          { code: 'column_type_mismatch' },
        );
      }
    }
  }
}

/** Same values on the wire: dictionary encoding is how a file stores a column, not its type. */
function sameArrowType(a: DataType, b: DataType): boolean {
  const plain = (t: DataType) => (DataType.isDictionary(t) ? t.dictionary : t);
  return String(plain(a)) === String(plain(b));
}

/** A source over a chosen list of row groups (all of them, or one shard's). */
export function parquetSourceOver(
  schema: Schema,
  groups: readonly RowGroupRef[],
  options: ParquetSourceOptions,
  description: string,
  access: FileAccess = LOCAL_FILES,
): Source & { readonly groups: readonly RowGroupRef[] } {
  const totalRows = groups.reduce((n, g) => n + g.rows, 0);
  const tasks = decodeTasks(groups, options);
  const decodeWith = (decoder: ParquetDecoder, k: number, reader: string) => {
    const p = decoder.decode({ ...tasks[k]!.task, reader });
    // Awaited in order below; a failure before that (the run stopped first) is not unhandled.
    p.catch(() => undefined);
    return p;
  };
  /** The first task, decoding since warm(), until batches() takes it. */
  let warmed: { decoder: ParquetDecoder; reader: string; first: ReturnType<typeof decodeWith> } | undefined;
  return {
    schema,
    groups,
    totalRows,
    description,
    identity: JSON.stringify(groups.map((g) => [g.file, g.fileSize, g.mtimeMs, g.rowGroup, g.rows])),
    async *batches(signal?: AbortSignal) {
      // An object store's files are read through its client on this thread (it holds the
      // credentials and the connection pool); local files on the Parquet thread, by path.
      if (access !== LOCAL_FILES) {
        yield* objectBatches(groups, options, access, signal);
        return;
      }
      const decoder = warmed?.decoder ?? new ParquetDecoder();
      const reader = warmed?.reader ?? randomUUID();
      const decode = (k: number) => decodeWith(decoder, k, reader);
      const first = warmed?.first;
      warmed = undefined;
      // The bench's serial run decodes each task when it is read, so that reading costs decoding.
      const serial = benchSerial();
      const sliceDepth = Math.max(2, Math.ceil(AHEAD_ROWS / (sliceBatches(options) * options.batchSize)));
      const pending: ReturnType<typeof decodeWith>[] = [];
      let asked = 0;
      const ask = () => {
        // Whole row groups (small files) one ahead, as they are large; slices AHEAD_ROWS ahead.
        while (asked < tasks.length && pending.length < (serial ? 1 : tasks[asked]!.task.inMemory ? 1 : sliceDepth)) {
          const k = asked++;
          pending.push(k === 0 && first ? first : decode(k));
        }
      };
      try {
        ask();
        for (let k = 0; k < tasks.length; k++) {
          signal?.throwIfAborted();
          const { g, task } = tasks[k]!;
          let decoded: Decoded;
          try {
            decoded = await pending.shift()!;
            // Decoded before the run held its lock (warm), perhaps long before (--wait): the file
            // must still be the one listed, or the run would publish what it no longer holds.
            if (k === 0 && first) await assertListed(g);
          } catch (err) {
            throw decodeError(g, err);
          }
          // The slices that follow decode on the Parquet thread while this one's batches are scored.
          if (!serial) ask();
          const tables = decoded.ipc.map((ipc) => tableFromIPC(ipc));
          const rows = tables.reduce((n, t) => n + t.numRows, 0);
          const expected = expectedRows(g, task);
          if (rows !== expected)
            throw decodeError(
              g,
              new Error(
                `the decoder gave ${rows} rows from row ${task.offset ?? 0} on, where the footer says ${expected}`,
              ),
            );
          const batches = tables.flatMap((t) =>
            (options.columns ? t.select([...options.columns]) : t).batches.filter((b) => b.numRows > 0),
          );
          lend(
            batches as RecordBatch[],
            decoded.ipc.map((p) => p.buffer as ArrayBuffer),
          );
          yield* batches as RecordBatch[];
          if (serial) ask();
        }
      } finally {
        // The thread holds the last row group it read by ranges open (a run may stop half way): it
        // lets go of it once the tasks asked for are done.
        if (asked > 0 && tasks.some((t) => !t.task.inMemory)) await decoder.forget(reader).catch(() => undefined);
        await decoder.close();
      }
    },
    warm() {
      if (access !== LOCAL_FILES || warmed || tasks.length === 0) return;
      const decoder = new ParquetDecoder();
      const reader = randomUUID();
      warmed = { decoder, reader, first: decodeWith(decoder, 0, reader) };
    },
    async close() {
      // A run that stopped before reading (another held the lock) lets the Parquet thread go.
      const w = warmed;
      warmed = undefined;
      if (w && !tasks[0]!.task.inMemory) await w.decoder.forget(w.reader).catch(() => undefined);
      await w?.decoder.close();
    },
  };
}

/**
 * Rows per decode task for a file read by ranges (rounded to whole batches): the source holds
 * the slice being scored and those asked ahead (AHEAD_ROWS), not whole row groups (README,
 * Performance).
 */
const SLICE_ROWS = tuning('MLSCALE_PARQUET_SLICE_ROWS', 32_768, 1);

/**
 * Rows of slices asked for ahead of the one being read: the main thread must have rows in hand
 * while the thread encodes a sink's part (0.1-0.2 s of 262,144 rows, that no decode can
 * interrupt). With 64k rows ahead it waited on each part; 128k ride it out (README, Performance).
 */
const AHEAD_ROWS = tuning('MLSCALE_PARQUET_AHEAD_ROWS', 131_072, 0);

const sliceBatches = (options: ParquetSourceOptions) => Math.max(1, Math.round(SLICE_ROWS / options.batchSize));

/**
 * The decode tasks, in order. The first row group's first batch is a task of its own: the first
 * chunk reaches the workers without waiting for more to decode. A file read by ranges is then read
 * a slice at a time; one read whole, a row group at a time (its reader cannot stop half way).
 */
function decodeTasks(groups: readonly RowGroupRef[], options: ParquetSourceOptions) {
  const slice = sliceBatches(options);
  const tasks: { g: RowGroupRef; task: DecodeTask }[] = [];
  groups.forEach((g, k) => {
    const base: DecodeTask = {
      file: g.file,
      rowGroup: g.rowGroup,
      batchSize: options.batchSize,
      columns: options.columns,
      inMemory: g.fileSize <= IN_MEMORY_MAX,
      listed: { size: g.fileSize, mtimeMs: g.mtimeMs },
    };
    let offset = 0;
    if (k === 0 && g.rows > options.batchSize) {
      tasks.push({ g, task: { ...base, batches: 1, ...(base.inMemory ? {} : { alone: true }) } });
      offset = options.batchSize;
    }
    if (base.inMemory) {
      tasks.push({ g, task: offset > 0 ? { ...base, offset } : base });
      return;
    }
    do {
      tasks.push({ g, task: { ...base, ...(offset > 0 ? { offset } : {}), batches: slice } });
      offset += slice * options.batchSize;
    } while (offset < g.rows);
  });
  return tasks;
}

/**
 * The rows a task must give: a reader gives whole batches of batchSize rows up to the row group's
 * end, so each slice is exactly where the next begins. A decoder that gave another count would
 * skip or repeat rows: the run fails instead.
 */
function expectedRows(g: RowGroupRef, task: DecodeTask): number {
  const rest = Math.max(0, g.rows - (task.offset ?? 0));
  return task.batches === undefined ? rest : Math.min(rest, task.batches * task.batchSize);
}

/**
 * Files up to this size are read whole and decoded with parquet-wasm's synchronous reader, one
 * row group per call: a damaged file then fails with parquet's own error message. Its async
 * reader (used above this size so memory stays bounded) aborts the process on some damaged
 * files instead (a wasm trap inside a promise), which the CLI reports as a decoder crash.
 */
export const IN_MEMORY_MAX = tuning('MLSCALE_PARQUET_IN_MEMORY_MAX', 32 * 1024 * 1024, 0);

/**
 * A size from the environment (these are for tests and measurements, not documented settings):
 * an integer of at least `min`, else the default with a warning, rather than a NaN that sent
 * every file down one path or failed a run with an internal error.
 */
function tuning(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (Number.isInteger(n) && n >= min) return n;
  process.emitWarning(`${name}=${raw} is not an integer of at least ${min}; using ${fallback}.`);
  return fallback;
}

/** A store's row groups, decoded here: files up to IN_MEMORY_MAX whole, larger ones by ranges. */
async function* objectBatches(
  groups: readonly RowGroupRef[],
  options: ParquetSourceOptions,
  access: FileAccess,
  signal?: AbortSignal,
): AsyncGenerator<RecordBatch> {
  await loadParquetWasm();
  let bytes: { file: string; data: Uint8Array } | undefined;
  for (const g of groups) {
    signal?.throwIfAborted();
    if (g.fileSize <= IN_MEMORY_MAX) {
      if (bytes?.file !== g.file) bytes = { file: g.file, data: await access.readAll(g.file) };
      yield* decodeInMemory(bytes.data, g, options);
    } else {
      bytes = undefined;
      yield* decodeStreaming(g, options, access, signal);
    }
  }
}

function* decodeInMemory(data: Uint8Array, g: RowGroupRef, options: ParquetSourceOptions): Generator<RecordBatch> {
  const pw = parquetWasmSync();
  let table;
  try {
    table = pw.readParquet(data, {
      rowGroups: [g.rowGroup],
      batchSize: options.batchSize,
      ...(options.columns ? { columns: [...options.columns] } : {}),
    });
  } catch (err) {
    throw decodeError(g, err);
  }
  try {
    const n = table.numBatches;
    for (let i = 0; i < n; i++) {
      const rb = table.recordBatch(i);
      if (!rb) continue;
      // The synchronous reader ignores `columns`, so drop the unread ones here.
      const t = tableFromIPC(rb.intoIPCStream());
      const selected = options.columns ? t.select([...options.columns]) : t;
      for (const batch of selected.batches) if (batch.numRows > 0) yield batch as RecordBatch;
    }
  } finally {
    table.free();
  }
}

async function* decodeStreaming(
  g: RowGroupRef,
  options: ParquetSourceOptions,
  access: FileAccess,
  signal?: AbortSignal,
): AsyncGenerator<RecordBatch> {
  const pw = await loadParquetWasm();
  const pf = await pw.ParquetFile.fromFile(await access.blob(g.file));
  try {
    let stream: ReadableStream;
    try {
      stream = await pf.stream({
        rowGroups: [g.rowGroup],
        batchSize: options.batchSize,
        ...(options.columns ? { columns: [...options.columns] } : {}),
      });
    } catch (err) {
      throw decodeError(g, err);
    }
    const reader = stream.getReader();
    try {
      for (;;) {
        let item;
        try {
          item = await reader.read();
        } catch (err) {
          throw decodeError(g, err);
        }
        if (item.done) break;
        for (const batch of tableFromIPC(item.value.intoIPCStream()).batches)
          if (batch.numRows > 0) yield batch as RecordBatch;
        signal?.throwIfAborted();
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  } finally {
    pf.free();
  }
}

/** Whether a file is gone, or no longer the size and modification time the run listed. */
async function changedSinceListed(file: string, size: number, mtimeMs: number): Promise<boolean> {
  const st = await stat(file).catch(() => undefined);
  return st?.size !== size || st.mtimeMs !== mtimeMs;
}

async function assertListed(g: RowGroupRef): Promise<void> {
  if (await changedSinceListed(g.file, g.fileSize, g.mtimeMs)) throw new FileChanged(g.file);
}

function decodeError(g: RowGroupRef, err: unknown): RuntimeFailure {
  const msg = err instanceof Error ? err.message : String(err);
  // The Parquet thread's errors cross as plain Errors: FileChanged is known by its message.
  if (msg.includes(new FileChanged(g.file).message)) return changedError(g.file, err);
  return new RuntimeFailure(
    `source: ${g.file} row group ${g.rowGroup} cannot be decoded (${msg.split('\n')[0]}); the file is damaged or uses a feature parquet-wasm cannot read.`,
    { code: 'source_decode', cause: err },
  );
}
