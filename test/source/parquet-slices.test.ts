import { readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import * as pw from 'parquet-wasm';
import path from 'node:path';
import { Table, makeVector, tableToIPC, type RecordBatch } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';

// A file above MLSCALE_PARQUET_IN_MEMORY_MAX is read by byte ranges, a slice of a row group per
// decode task, with the row group held open on the Parquet thread between tasks. Slices here are
// 300 rows (3 batches of 100, or 2 of 128 with the rows left over): every row must come once, in
// order, however the tasks of two sources interleave on the one thread.
type Module = typeof import('../../src/source/parquet.js');
let m: Module;
/** Keeps the Parquet thread up between sources, as the scheduler's other jobs do. */
let holder: { close(): Promise<void> };
const s = scratchDir('slices');
const ROWS = 2_500;
// Row groups of 1,000 rows: 1,000 is no multiple of the 300-row slices nor of the batch sizes.
const file = path.join(s.dir, 'ids.parquet');
const other = path.join(s.dir, 'other.parquet');

const ids = (first: number, n: number) =>
  new Table({
    id: makeVector(BigInt64Array.from({ length: n }, (_, i) => BigInt(first + i))),
    x: makeVector(Float64Array.from({ length: n }, (_, i) => (first + i) / 2)),
  });

beforeAll(async () => {
  writeParquet(file, ids(0, ROWS), 1_000);
  writeParquet(other, ids(1_000_000, 1_700), 1_000);
  vi.resetModules();
  vi.stubEnv('MLSCALE_PARQUET_IN_MEMORY_MAX', '1000');
  vi.stubEnv('MLSCALE_PARQUET_SLICE_ROWS', '300');
  // Two slices ahead, so that a source is inside a row group while the other reads.
  vi.stubEnv('MLSCALE_PARQUET_AHEAD_ROWS', '600');
  m = await import('../../src/source/parquet.js');
  const { ParquetThread } = await import('../../src/parquet-thread.js');
  const thread = new ParquetThread();
  thread.claim();
  holder = thread;
  vi.unstubAllEnvs();
});
afterAll(async () => {
  await holder.close();
  s.remove();
});

async function sourceOf(f: string, batchSize: number) {
  const files = await m.scanParquet(f);
  expect(files.groups.map((g) => g.rows)).toEqual(f === file ? [1000, 1000, 500] : [1000, 700]);
  return m.parquetSourceOver(files.schema, files.groups, { batchSize }, f);
}

const idsOf = (batches: RecordBatch[]) =>
  batches.flatMap((b) => Array.from(b.getChild('id')!.toArray() as BigInt64Array, Number));
const range = (first: number, n: number) => Array.from({ length: n }, (_, i) => first + i);

/** File descriptors of this process (the Parquet thread's included) open on `f`. */
function openOn(f: string): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === f;
    } catch {
      return false;
    }
  }).length;
}

describe('Parquet source read by ranges, a slice at a time', () => {
  it.each([100, 128, 1000, 4096])('gives every row once, in order, at batch size %i', async (batchSize) => {
    const batches: RecordBatch[] = [];
    for await (const b of (await sourceOf(file, batchSize)).batches()) batches.push(b);
    expect(idsOf(batches)).toEqual(range(0, ROWS));
    expect(Math.max(...batches.map((b) => b.numRows))).toBeLessThanOrEqual(batchSize);
    expect(batches.flatMap((b) => Array.from(b.getChild('x')!.toArray() as Float64Array))).toEqual(
      range(0, ROWS).map((i) => i / 2),
    );
    expect(openOn(file)).toBe(0);
  });

  it("keeps each source's rows whole when two sources' slices interleave on the one thread", async () => {
    // The scheduler's case: two runs share the Parquet thread, so each slice may find the row
    // group it continues replaced by the other source's, and must open it again where it left off.
    const a = (await sourceOf(file, 100)).batches()[Symbol.asyncIterator]();
    const b = (await sourceOf(other, 128)).batches()[Symbol.asyncIterator]();
    const got: { a: RecordBatch[]; b: RecordBatch[] } = { a: [], b: [] };
    let doneA = false;
    let doneB = false;
    got.a.push((await a.next()).value as RecordBatch);
    got.b.push((await b.next()).value as RecordBatch);
    // Each holds its row group open at once: one did not close the other's (each reopen fetched
    // the row group again). A condition, not a delay: with one row group open at a time it never holds.
    const deadline = Date.now() + 5000;
    while (!(openOn(file) === 1 && openOn(other) === 1) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect([openOn(file), openOn(other)]).toEqual([1, 1]);
    while (!doneA || !doneB) {
      if (!doneA) {
        const r = await a.next();
        if (r.done) doneA = true;
        else got.a.push(r.value);
      }
      if (!doneB) {
        const r = await b.next();
        if (r.done) doneB = true;
        else got.b.push(r.value);
      }
    }
    expect(idsOf(got.a)).toEqual(range(0, ROWS));
    expect(idsOf(got.b)).toEqual(range(1_000_000, 1_700));
    expect(openOn(file) + openOn(other)).toBe(0);
  });

  it('lets go of the row group it held open when a run stops half way through it', async () => {
    const source = await sourceOf(file, 100);
    let n = 0;
    for await (const batch of source.batches()) {
      expect(batch.numRows).toBe(100);
      if (++n === 4) break;
    }
    expect(openOn(file)).toBe(0);
    // And the next run reads it all again from the start.
    const again: RecordBatch[] = [];
    for await (const batch of source.batches()) again.push(batch);
    expect(idsOf(again)).toEqual(range(0, ROWS));
  });

  it('reads a run’s first batch alone: only the pages it is in, where the file has a page index', async () => {
    // One row group of 200,000 rows × 8 random doubles (12.8 MB) in pages of 64 KiB, with the
    // page index parquet-wasm writes. The first task of a run asks for one batch of it, alone.
    const big = path.join(s.dir, 'pages.parquet');
    const n = 200_000;
    const columns: Record<string, ReturnType<typeof makeVector>> = {};
    for (let c = 0; c < 8; c++) columns[`f${c}`] = makeVector(Float64Array.from({ length: n }, () => Math.random()));
    const props = new pw.WriterPropertiesBuilder()
      .setCompression(pw.Compression.UNCOMPRESSED)
      .setDictionaryEnabled(false)
      .setDataPageSizeLimit(64 * 1024)
      .setMaxRowGroupSize(n)
      .build();
    writeFileSync(big, pw.writeParquet(pw.Table.fromIPCStream(tableToIPC(new Table(columns), 'stream')), props));
    const { size, mtimeMs } = statSync(big);
    const { ParquetDecoder } = await import('../../src/source/parquet-decoder.js');
    const decoder = new ParquetDecoder();
    /** Bytes this process has read through read(2) and pread(2) since it started (the thread's too). */
    const readSoFar = () => Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
    const task = {
      file: big,
      listed: { size, mtimeMs },
      rowGroup: 0,
      batchSize: 1000,
      columns: undefined,
      inMemory: false,
      batches: 1,
      reader: 'first-batch',
    };
    try {
      const before = readSoFar();
      const alone = await decoder.decode({ ...task, alone: true });
      const aloneRead = readSoFar() - before;
      expect(alone.ipc.length).toBe(1);
      // The first pages of each column: a small part of the 12.8 MB.
      expect(aloneRead).toBeLessThan(size / 10);
      expect(openOn(big)).toBe(0);
      // The same batch read as a slice fetches every page of the row group, and holds it open.
      const then = readSoFar();
      const slice = await decoder.decode(task);
      expect(readSoFar() - then).toBeGreaterThan(size * 0.9);
      expect(slice.ipc.length).toBe(1);
      await decoder.forget('first-batch');
      expect(openOn(big)).toBe(0);
    } finally {
      await decoder.close();
    }
  });
});
