import { performance } from 'node:perf_hooks';
import { serveTasks, type Answer } from './task-serve.js';
import { decodeRowGroup, forgetCursors } from './source/parquet-decode.js';
import { encodePart } from './sink/parquet-encode.js';
import { readFileFooters } from './source/parquet-footer.js';
import type { ParquetTask } from './parquet-thread.js';
import { loadParquetWasm } from './parquet-wasm.js';

/**
 * The Parquet thread's one entry: a footer to read or a row group to decode (source), a part to
 * encode (sink). The answer says how long the thread worked on it (the run's parquet_ms).
 */
// Every task needs parquet-wasm: compiled as soon as the thread starts, before the first task comes.
loadParquetWasm().catch(() => undefined);

serveTasks(async (task: ParquetTask): Promise<Answer> => {
  const started = performance.now();
  const answer =
    task.kind === 'decode'
      ? await decodeRowGroup(task)
      : task.kind === 'encode'
        ? await encodePart(task)
        : task.kind === 'footers'
          ? { value: await readFileFooters(await loadParquetWasm(), task), transfer: [] }
          : task.kind === 'forget'
            ? { value: await forgetCursors(task.reader), transfer: [] }
            : { value: (await loadParquetWasm(), null), transfer: [] };
  return { value: { ms: performance.now() - started, value: answer.value }, transfer: answer.transfer };
});
