import { tableToIPC, type Table } from 'apache-arrow';

export type ParquetWasm = typeof import('parquet-wasm');

let wasm: Promise<ParquetWasm> | undefined;
let loaded: ParquetWasm | undefined;

/** parquet-wasm is loaded on first use (it instantiates a 4 MB WebAssembly module). */
export function loadParquetWasm(): Promise<ParquetWasm> {
  wasm ??= import('parquet-wasm').then((m) => (loaded = m));
  return wasm;
}

/** The module, for synchronous callers that awaited loadParquetWasm() before. */
export function parquetWasmSync(): ParquetWasm {
  if (!loaded) throw new Error('parquet-wasm used before loadParquetWasm()');
  return loaded;
}

import { CODECS } from './parquet-codecs.js';

export { CODECS };

/** Encodes an Arrow table as the bytes of one Parquet file (parquet-wasm's default codec when none is named). */
export async function encodeParquet(table: Table, codec?: keyof typeof CODECS): Promise<Uint8Array> {
  const pw = await loadParquetWasm();
  const props = codec
    ? new pw.WriterPropertiesBuilder().setCompression(pw.Compression[CODECS[codec]]).build()
    : undefined;
  return pw.writeParquet(pw.Table.fromIPCStream(tableToIPC(table, 'stream')), props);
}
