import { CODECS } from '../parquet-codecs.js';
import { freeBuffers } from '../free-buffers.js';
import type { Answer } from '../task-serve.js';
import { loadParquetWasm } from '../parquet-wasm.js';
import { spliceConstantColumns, valueBytes } from './constant-columns.js';
import type { EncodeTask } from './parquet-encoder.js';

/**
 * Encodes one part from Arrow IPC bytes to Parquet bytes, handed back without a copy. The task's
 * bytes are spent once parquet-wasm has copied them (a part is several megabytes): they are freed
 * then, as is parquet-rs's output once the constant columns' copy of it is made.
 */
export async function encodePart(task: EncodeTask): Promise<Answer> {
  const pw = await loadParquetWasm();
  let props = new pw.WriterPropertiesBuilder().setCompression(pw.Compression[CODECS[task.codec]]);
  // Keys and scores are nearly all distinct: a dictionary costs time and makes the file bigger.
  for (const column of task.plainColumns) props = props.setColumnDictionaryEnabled(column, false);
  const table = pw.Table.fromIPCStream(task.ipc);
  freeBuffers([task.ipc.buffer]);
  const encoded = pw.writeParquet(table, props.build());
  const bytes = spliceConstantColumns(encoded, new Map(task.constants.map(([c, v]) => [c, valueBytes(v)])));
  if (bytes.buffer !== encoded.buffer) freeBuffers([encoded.buffer]);
  return { value: bytes, transfer: [bytes.buffer as ArrayBuffer] };
}
