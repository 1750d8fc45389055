import path from 'node:path';
import { Table, makeVector, tableFromIPC, tableToIPC, type RecordBatch } from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { finished, lend } from '../../src/source/lent-buffers.js';
import { parquetSourceOver, scanParquet } from '../../src/source/parquet.js';
import { writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';

// The Parquet source's decoded batches are views of buffers the Parquet thread handed over; the
// run frees them as soon as it has written every batch that views them, not at the main
// thread's next full garbage collection. Never sooner: a buffer freed while one of its batches is
// still in use would read as empty rows.
const s = scratchDir('lent-buffers');
afterAll(() => s.remove());

const idsTable = (first: number, n: number) =>
  new Table({
    id: makeVector(BigInt64Array.from({ length: n }, (_, i) => BigInt(first + i))),
    x: makeVector(Float64Array.from({ length: n }, (_, i) => (first + i) / 2)),
  });
const bufferOf = (b: RecordBatch) => b.getChild('x')!.data[0]!.values.buffer as ArrayBuffer;

describe('buffers lent to a run (lend, finished)', () => {
  it('frees the buffers once every batch that views them is finished, not before; a batch finished twice counts once', () => {
    const batches = tableFromIPC(
      tableToIPC(new Table([...idsTable(0, 10).batches, ...idsTable(10, 5).batches]), 'stream'),
    ).batches;
    expect(batches).toHaveLength(2);
    const buffer = bufferOf(batches[0]!);
    lend(batches, [buffer]);
    finished(batches[0]!);
    finished(batches[0]!);
    expect(buffer.byteLength).toBeGreaterThan(0);
    expect(Number(batches[1]!.getChild('id')!.get(4))).toBe(14);
    finished(batches[1]!);
    expect(buffer.byteLength).toBe(0);
  });

  it('leaves a batch that was never lent (another source, a slice cut by --limit) alone', () => {
    const batch = tableFromIPC(tableToIPC(idsTable(0, 10), 'stream')).batches[0]!;
    finished(batch);
    finished(batch.slice(0, 3));
    expect(bufferOf(batch).byteLength).toBeGreaterThan(0);
  });

  it('a Parquet source lends its batches: every row read before the batches are finished, every buffer freed after', async () => {
    const file = path.join(s.dir, 'ids.parquet');
    const rows = 2_500;
    writeParquet(file, idsTable(0, rows), 1_000);
    const files = await scanParquet(file);
    const source = parquetSourceOver(files.schema, files.groups, { batchSize: 128 }, file);
    const batches: RecordBatch[] = [];
    const ids: number[] = [];
    // As the pipeline does: a batch is finished a few batches after it was read (read ahead).
    for await (const b of source.batches()) {
      batches.push(b);
      ids.push(...Array.from(b.getChild('id')!.toArray() as BigInt64Array, Number));
      if (batches.length > 3) finished(batches[batches.length - 4]!);
    }
    expect(ids).toEqual(Array.from({ length: rows }, (_, i) => i));
    const last = batches.at(-1)!;
    // The last row group's batches are not all finished: its buffer is whole, its rows readable.
    expect(bufferOf(last).byteLength).toBeGreaterThan(0);
    expect(Number(last.getChild('id')!.get(last.numRows - 1))).toBe(rows - 1);
    // The first row group's were: freed.
    expect(bufferOf(batches[0]!).byteLength).toBe(0);
    for (const b of batches.slice(-3)) finished(b);
    expect(batches.every((b) => bufferOf(b).byteLength === 0)).toBe(true);
  });
});
