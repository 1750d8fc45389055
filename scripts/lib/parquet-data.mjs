// Writes deterministic synthetic feature tables to Parquet with parquet-wasm.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Table, makeVector, tableToIPC } from 'apache-arrow';
import * as pw from 'parquet-wasm';
import { rng } from './onnx-builder.mjs';

/** Writes an Arrow table to a Parquet file (row groups of rowGroupSize rows). */
export function writeTable(file, table, { compression = 'SNAPPY', rowGroupSize = 1_000_000 } = {}) {
  mkdirSync(path.dirname(file), { recursive: true });
  const props = new pw.WriterPropertiesBuilder()
    .setCompression(pw.Compression[compression])
    .setMaxRowGroupSize(rowGroupSize)
    .build();
  writeFileSync(file, pw.writeParquet(pw.Table.fromIPCStream(tableToIPC(table, 'stream')), props));
}

/**
 * `rows` rows of `features` float columns (f0..f{F-1}, uniform in [0,1)) plus an int64 key `id`,
 * written as `files` files. Generated in slices so memory stays flat for large row counts.
 */
export function writeFeatureFiles(
  dir,
  { rows, features, files = 1, seed = 7, rowGroupSize = 131072, compression = 'SNAPPY' },
) {
  const rand = rng(seed);
  const perFile = Math.ceil(rows / files);
  let id = 0;
  const out = [];
  for (let f = 0; f < files; f++) {
    const n = Math.min(perFile, rows - id);
    if (n <= 0) break;
    const cols = { id: makeVector(BigInt64Array.from({ length: n }, (_, i) => BigInt(id + i))) };
    for (let c = 0; c < features; c++) cols[`f${c}`] = makeVector(Float32Array.from({ length: n }, () => rand()));
    const file = path.join(dir, `part-${String(f).padStart(4, '0')}.parquet`);
    writeTable(file, new Table(cols), { compression, rowGroupSize });
    out.push(file);
    id += n;
  }
  return out;
}
