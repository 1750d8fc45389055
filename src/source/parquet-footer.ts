import type { ParquetWasm } from '../parquet-wasm.js';
import { fileBlob } from './range-blob.js';

/** A local file's footer, read on the Parquet thread: the main thread never loads parquet-wasm for it. */
export interface FooterTask {
  readonly file: string;
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

/** A local file's footer (the Parquet thread's task). */
export async function readFileFooter(pw: ParquetWasm, task: FooterTask): Promise<FooterResult> {
  const file = await fileBlob(task.file);
  try {
    return await readFooter(pw, file.blob as Blob);
  } finally {
    await file.close();
  }
}
