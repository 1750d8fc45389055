import { parquetWasm } from '../parquet-thread-worker.js';
import { fileBlob } from './range-blob.js';

/** A local file's footer, read on the Parquet thread: the main thread never loads parquet-wasm for it. */
export interface FooterTask {
  readonly file: string;
}

export type FooterResult =
  | { readonly schema: Uint8Array; readonly rowGroups: readonly number[] }
  /** open: parquet-wasm could not read the file as Parquet; footer: it read it, but not its schema. */
  | { readonly error: 'open' | 'footer'; readonly message: string };

const messageOf = (err: unknown) => String((err as Error)?.message ?? err).split('\n')[0]!;

/** Row counts of the row groups and the schema as an Arrow IPC stream. */
export async function readFooter(task: FooterTask): Promise<FooterResult> {
  const pw = await parquetWasm();
  const file = await fileBlob(task.file);
  let pf: Awaited<ReturnType<typeof pw.ParquetFile.fromFile>> | undefined;
  try {
    try {
      pf = await pw.ParquetFile.fromFile(file.blob as Blob);
    } catch (err) {
      return { error: 'open', message: messageOf(err) };
    }
    try {
      const rowGroups = pf
        .metadata()
        .rowGroups()
        .map((rg) => rg.numRows());
      return { schema: pf.schema().intoIPCStream(), rowGroups };
    } catch (err) {
      return { error: 'footer', message: messageOf(err) };
    }
  } finally {
    pf?.free();
    await file.close();
  }
}
