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
