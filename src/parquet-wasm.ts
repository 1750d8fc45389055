import { createRequire } from 'node:module';

export type ParquetWasm = typeof import('parquet-wasm');

let wasm: Promise<ParquetWasm> | undefined;
let loaded: ParquetWasm | undefined;

/**
 * parquet-wasm is loaded on first use (it compiles a 5 MB WebAssembly module), with require():
 * its Node build is CommonJS, and import() would first scan its 100 KB of glue for export names
 * (10-25 ms of every thread that loads it).
 */
export function loadParquetWasm(): Promise<ParquetWasm> {
  wasm ??= new Promise<ParquetWasm>((resolve) => resolve(createRequire(import.meta.url)('parquet-wasm'))).then(
    (m) => (loaded = m),
  );
  return wasm;
}

/** The module, for synchronous callers that awaited loadParquetWasm() before. */
export function parquetWasmSync(): ParquetWasm {
  if (!loaded) throw new Error('parquet-wasm used before loadParquetWasm()');
  return loaded;
}
