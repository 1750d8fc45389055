import { CODECS } from '../parquet-codecs.js';
import type { Answer } from '../task-serve.js';
import { loadParquetWasm } from '../parquet-wasm.js';
import { spliceConstantColumns, valueBytes } from './constant-columns.js';
import type { EncodeTask } from './parquet-encoder.js';

/** Encodes one part from Arrow IPC bytes to Parquet bytes, handed back without a copy. */
export async function encodePart(task: EncodeTask): Promise<Answer> {
  const pw = await loadParquetWasm();
  let props = new pw.WriterPropertiesBuilder().setCompression(pw.Compression[CODECS[task.codec]]);
  // Keys and scores are nearly all distinct: a dictionary costs time and makes the file bigger.
  for (const column of task.plainColumns) props = props.setColumnDictionaryEnabled(column, false);
  const encoded = pw.writeParquet(pw.Table.fromIPCStream(task.ipc), props.build());
  const bytes = spliceConstantColumns(encoded, new Map(task.constants.map(([c, v]) => [c, valueBytes(v)])));
  return { value: bytes, transfer: [bytes.buffer as ArrayBuffer] };
}
