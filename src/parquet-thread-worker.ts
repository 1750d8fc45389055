import { decodeRowGroup } from './source/parquet-decode.js';
import { encodePart } from './sink/parquet-encode.js';
import { readFooter } from './source/parquet-footer.js';
import type { ParquetTask } from './parquet-thread.js';

let wasm: Promise<typeof import('parquet-wasm')> | undefined;

/** parquet-wasm, loaded once per thread on its first task. */
export function parquetWasm(): Promise<typeof import('parquet-wasm')> {
  wasm ??= import('parquet-wasm');
  return wasm;
}

/** The Parquet thread's one entry: a footer to read or a row group to decode (source), a part to encode (sink). */
export default async function run(task: ParquetTask): Promise<unknown> {
  if (task.kind === 'decode') return decodeRowGroup(task);
  if (task.kind === 'encode') return encodePart(task);
  return readFooter(task);
}
