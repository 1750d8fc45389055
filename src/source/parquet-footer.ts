import type { ParquetWasm } from '../parquet-wasm.js';
import { fileBlob } from './range-blob.js';

/** Local files' footers, read on the Parquet thread: the main thread never loads parquet-wasm for them. */
export interface FooterTask {
  readonly files: readonly string[];
}

export type FooterResult =
  | { readonly schema: Uint8Array; readonly rowGroups: readonly number[] }
  /** open: parquet-wasm could not read the file as Parquet; footer: it read it, but not its schema. */
  | { readonly error: 'open' | 'footer'; readonly message: string };

/** The first line of what was thrown (parquet-wasm's messages run on with a backtrace). */
export const firstLineOf = (err: unknown) => String((err as Error)?.message ?? err).split('\n')[0]!;

/**
 * Row counts of a Parquet file's row groups and its schema as an Arrow IPC stream, read through
 * `blob`: a local file's on the Parquet thread, an object's on the main thread.
 */
export async function readFooter(pw: ParquetWasm, blob: Blob): Promise<FooterResult> {
  let pf: Awaited<ReturnType<typeof pw.ParquetFile.fromFile>>;
  try {
    pf = await pw.ParquetFile.fromFile(blob);
  } catch (err) {
    return { error: 'open', message: firstLineOf(err) };
  }
  try {
    const rowGroups = pf
      .metadata()
      .rowGroups()
      .map((rg) => rg.numRows());
    return { schema: pf.schema().intoIPCStream(), rowGroups };
  } catch (err) {
    return { error: 'footer', message: (err as Error).message };
  } finally {
    pf.free();
  }
}

/** Footers read at once by one task: their reads overlap (4 footers took 40-50 ms one by one as a run started, each a few reads). */
const FOOTERS_AT_ONCE = 8;

/** Local files' footers, in the order given (the Parquet thread's task). */
export async function readFileFooters(pw: ParquetWasm, task: FooterTask): Promise<FooterResult[]> {
  const out: FooterResult[] = [];
  for (let at = 0; at < task.files.length; at += FOOTERS_AT_ONCE)
    out.push(...(await Promise.all(task.files.slice(at, at + FOOTERS_AT_ONCE).map((f) => readFileFooter(pw, f)))));
  return out;
}

async function readFileFooter(pw: ParquetWasm, path: string): Promise<FooterResult> {
  let file;
  try {
    file = await fileBlob(path);
  } catch (err) {
    return { error: 'open', message: firstLineOf(err) };
  }
  try {
    return await readFooter(pw, file.blob as Blob);
  } finally {
    await file.close();
  }
}
