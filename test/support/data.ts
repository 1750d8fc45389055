import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  Table,
  tableFromIPC,
  tableToIPC,
  vectorFromArray,
  type Vector,
  Float64,
  Int32,
  Int64,
  Utf8,
  type DataType,
} from 'apache-arrow';
import * as pw from 'parquet-wasm';

/** RFC 4180 CSV (quoted fields with commas, doubled quotes). */
export function parseCsv(text: string): { header: string[]; rows: string[][] } {
  const rows: string[][] = [];
  let field = '';
  let row: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      field = '';
      if (row.length > 1 || row[0] !== '') rows.push(row);
      row = [];
    } else field += ch;
  }
  if (field !== '' || row.length > 0) rows.push([...row, field]);
  return { header: rows[0]!, rows: rows.slice(1) };
}

export type ColumnSpec = Record<string, 'float' | 'int' | 'string'>;

/** Reads chosen CSV columns into an Arrow table: blanks become nulls. */
export function csvTable(file: string, spec: ColumnSpec, options: { rowId?: string } = {}): Table {
  const { header, rows } = parseCsv(readFileSync(file, 'utf8'));
  const cols: Record<string, Vector> = {};
  if (options.rowId)
    cols[options.rowId] = vectorFromArray(
      rows.map((_, i) => i),
      new Int32(),
    );
  for (const [name, kind] of Object.entries(spec)) {
    const idx = header.indexOf(name);
    if (idx < 0) throw new Error(`${file} has no column ${name}`);
    const raw = rows.map((r) => (r[idx] === undefined || r[idx] === '' ? null : r[idx]!));
    const type: DataType = kind === 'float' ? new Float64() : kind === 'int' ? new Int64() : new Utf8();
    const values = raw.map((v) => (v === null ? null : kind === 'float' ? Number(v) : kind === 'int' ? BigInt(v) : v));
    cols[name] = vectorFromArray(values as never[], type);
  }
  return new Table(cols);
}

export function writeParquet(file: string, table: Table, rowGroupSize = 1_000_000): string {
  mkdirSync(path.dirname(file), { recursive: true });
  const props = new pw.WriterPropertiesBuilder()
    .setCompression(pw.Compression.SNAPPY)
    .setMaxRowGroupSize(rowGroupSize)
    .build();
  writeFileSync(file, pw.writeParquet(pw.Table.fromIPCStream(tableToIPC(table, 'stream')), props));
  return file;
}

export function readParquetTable(file: string): Table {
  return tableFromIPC(pw.readParquet(readFileSync(file)).intoIPCStream());
}
