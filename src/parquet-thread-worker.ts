import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { decodeRowGroup } from './source/parquet-decode.js';
import { encodePart } from './sink/parquet-encode.js';
import { readFileFooter } from './source/parquet-footer.js';
import type { ParquetTask } from './parquet-thread.js';

let wasm: Promise<typeof import('parquet-wasm')> | undefined;

/** parquet-wasm, loaded once per thread on its first task. */
export function parquetWasm(): Promise<typeof import('parquet-wasm')> {
  wasm ??= import('parquet-wasm');
  return wasm;
}

/** A task's answer, and the buffers in it that move to the main thread instead of being copied. */
export interface Answer {
  readonly value: unknown;
  readonly transfer: readonly ArrayBuffer[];
}

/**
 * The Parquet thread's one entry: a footer to read or a row group to decode (source), a part to
 * encode (sink). The answer says how long the thread worked on it (the run's parquet_ms).
 */
export default async function run(task: ParquetTask): Promise<unknown> {
  const started = performance.now();
  const answer =
    task.kind === 'decode'
      ? await decodeRowGroup(task)
      : task.kind === 'encode'
        ? await encodePart(task)
        : { value: await readFileFooter(await parquetWasm(), task), transfer: [] };
  const result = { ms: performance.now() - started, value: answer.value };
  // piscina's Transferable type names its own symbols; these are the same ones, as Piscina exports them.
  return Piscina.move({
    get [Piscina.transferableSymbol]() {
      return answer.transfer;
    },
    get [Piscina.valueSymbol]() {
      return result;
    },
  } as unknown as Parameters<typeof Piscina.move>[0]);
}
