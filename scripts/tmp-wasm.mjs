import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
if (process.argv[2]) v8.setFlagsFromString(process.argv[2]);
const bytes = readFileSync('/work/main/node_modules/parquet-wasm/node/parquet_wasm_bg.wasm');
let t = performance.now();
const m = new WebAssembly.Module(bytes);
console.log(process.argv[2] ?? 'default', 'compile', (performance.now() - t).toFixed(1));
t = performance.now();
const { createRequire } = await import('node:module');
