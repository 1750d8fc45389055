import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { MlscaleError, UsageError } from '../../src/errors.js';
import { findFiles } from '../../src/source/find-files.js';
import { LOCAL_FILES, parquetSourceOver, scanParquet } from '../../src/source/parquet.js';
import { ParquetDecoder } from '../../src/source/parquet-decoder.js';
import { parquetThreadBusyMs } from '../../src/parquet-thread.js';
import { Table, makeVector } from 'apache-arrow';
import { csvTable, parseCsv, writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';
import { datasetFixture, fixtures, parquetFixture } from '../support/paths.js';
import { readFileSync } from 'node:fs';

async function readAll(pattern: string, batchSize = 1024, columns?: string[]) {
  const files = await scanParquet(pattern);
  const source = parquetSourceOver(files.schema, files.groups, { batchSize, ...(columns ? { columns } : {}) }, pattern);
  const sizes: number[] = [];
  const batches = [];
  for await (const b of source.batches()) {
    sizes.push(b.numRows);
    batches.push(b);
  }
  return { files, source, sizes, batches, rows: sizes.reduce((a, b) => a + b, 0) };
}

const scratch = scratchDir('source');
afterAll(() => scratch.remove());

describe('Parquet source', () => {
  it('streams a real file in batches of at most batch_size rows', async () => {
    const r = await readAll(datasetFixture('userdata1.parquet'), 300);
    expect(r.rows).toBe(1000);
    expect(r.source.totalRows).toBe(1000);
    expect(Math.max(...r.sizes)).toBeLessThanOrEqual(300);
    expect(r.files.schema.fields.map((f) => f.name)).toContain('salary');
  });

  it('decodes only the columns asked for', async () => {
    const r = await readAll(datasetFixture('userdata1.parquet'), 1000, ['id', 'salary']);
    expect(r.batches[0]!.schema.fields.map((f) => f.name).sort()).toEqual(['id', 'salary']);
  });

  // Every codec and page layout the fixtures cover, with the row counts their footers promise.
  const valid: [string, number][] = [
    ['alltypes_plain.parquet', 8],
    ['alltypes_plain.snappy.parquet', 2],
    ['alltypes_dictionary.parquet', 2],
    ['alltypes_tiny_pages.parquet', 7300],
    ['datapage_v1-snappy-compressed-checksum.parquet', 5120],
    ['datapage_v2.snappy.parquet', 5],
    ['byte_stream_split.zstd.parquet', 300],
    ['concatenated_gzip_members.parquet', 513],
    ['hadoop_lz4_compressed_larger.parquet', 10000],
    ['non_hadoop_lz4_compressed.parquet', 4],
    ['lz4_raw_compressed_larger.parquet', 10000],
    ['delta_binary_packed.parquet', 200],
    ['rle-dict-snappy-checksum.parquet', 1000],
    ['int32_with_null_pages.parquet', 1000],
    ['page_v2_empty_compressed.parquet', 10],
  ];
  it.each(valid)('reads %s (%i rows)', async (name, rows) => {
    const r = await readAll(parquetFixture(name), 4096);
    expect(r.rows).toBe(rows);
    expect(Math.max(0, ...r.sizes)).toBeLessThanOrEqual(4096);
  });

  it('decodes delta_binary_packed values exactly as the upstream expectation file says', async () => {
    const r = await readAll(parquetFixture('delta_binary_packed.parquet'), 64, ['int_value']);
    const got = r.batches.flatMap((b) => Array.from(b.getChild('int_value')!, (v) => String(v)));
    const { header, rows } = parseCsv(readFileSync(parquetFixture('delta_binary_packed_expect.csv'), 'utf8'));
    const idx = header.indexOf('int_value');
    expect(got).toEqual(rows.map((row) => row[idx]));
  });

  it('fails cleanly on every malformed file in bad_data/ (an error naming the file, never a crash)', async () => {
    const dir = parquetFixture('bad_data');
    const results: string[] = [];
    for (const name of readdirSync(dir)
      .filter((f) => f.endsWith('.parquet'))
      .sort()) {
      try {
        await readAll(path.join(dir, name), 4096);
        results.push(`${name}: read`);
      } catch (err) {
        expect(err).toBeInstanceOf(MlscaleError);
        expect((err as Error).message).toMatch(new RegExp(`^source: .*${name.replace(/[.]/g, '\\.')}`));
        results.push(`${name}: rejected`);
      }
    }
    expect(results).toEqual([
      'ARROW-GH-41317.parquet: rejected',
      'ARROW-GH-41321.parquet: rejected',
      'ARROW-GH-43605.parquet: read',
      'ARROW-GH-45185.parquet: rejected',
      'ARROW-GH-47662.parquet: rejected',
      'ARROW-RS-GH-6229-DICTHEADER.parquet: rejected',
      'ARROW-RS-GH-6229-LEVELS.parquet: rejected',
      'PARQUET-1481.parquet: rejected',
    ]);
  });

  it('says a file that is not Parquet is not Parquet', async () => {
    await expect(scanParquet(datasetFixture('iris.csv'))).rejects.toMatchObject({
      constructor: UsageError,
      exitCode: 2,
      message: `source: ${datasetFixture('iris.csv')} is not a Parquet file (no PAR1 magic); point source.parquet.path at .parquet files only.`,
    });
  });

  it('says a path that matches nothing matches nothing', async () => {
    const pattern = path.join(scratch.dir, 'nope', '*.parquet');
    await expect(scanParquet(pattern)).rejects.toThrow(
      `source: ${pattern} matches no files; check source.parquet.path and the parameters in it (such as ds).`,
    );
  });

  it('reads a directory and a glob, in sorted order, skipping _ and . files', async () => {
    const t = csvTable(datasetFixture('iris.csv'), { Sepal_Length: 'float' });
    writeParquet(path.join(scratch.dir, 'd', 'b.parquet'), t);
    writeParquet(path.join(scratch.dir, 'd', 'a.parquet'), t);
    writeParquet(path.join(scratch.dir, 'd', 'sub', 'c.parquet'), t);
    scratch.file('d/_SUCCESS', '');
    expect((await findFiles(path.join(scratch.dir, 'd'))).map((f) => path.relative(scratch.dir, f))).toEqual([
      'd/a.parquet',
      'd/b.parquet',
      'd/sub/c.parquet',
    ]);
    expect((await findFiles(path.join(scratch.dir, 'd', '*.parquet'))).map((f) => path.basename(f))).toEqual([
      'a.parquet',
      'b.parquet',
    ]);
    expect((await findFiles(path.join(scratch.dir, '**', 'c.parquet'))).length).toBe(1);
    expect((await readAll(path.join(scratch.dir, 'd'))).rows).toBe(450);
  });

  it('refuses a file rewritten after the run listed it, in one sentence, whether read whole or by ranges', async () => {
    for (const inMemoryMax of ['33554432', '0']) {
      // IN_MEMORY_MAX is read when the module loads: load it again with the other limit.
      vi.resetModules();
      vi.stubEnv('MLSCALE_PARQUET_IN_MEMORY_MAX', inMemoryMax);
      const m = await import('../../src/source/parquet.js');
      vi.unstubAllEnvs();
      const file = path.join(scratch.dir, `rewritten-${inMemoryMax}.parquet`);
      copyFileSync(datasetFixture('userdata1.parquet'), file);
      const files = await m.scanParquet(file);
      const source = m.parquetSourceOver(files.schema, files.groups, { batchSize: 100 }, file);
      // Same bytes, a later modification time: as a writer that replaced the file in place leaves it.
      const later = new Date(statSync(file).mtimeMs + 5000);
      utimesSync(file, later, later);
      const read = async () => {
        for await (const b of source.batches()) expect(b.numRows).toBeGreaterThan(0);
      };
      await expect(read()).rejects.toThrow(
        /^source: .*rewritten-\d+\.parquet changed after the run listed it \(its size or modification time differ, or it is gone\); nothing was published\./,
      );
    }
  });

  it('reads a file rewritten between two runs anew, even while the Parquet thread stays up for another source', async () => {
    // The scheduler's case: another job keeps the Parquet thread (and its copy of the last small
    // file read whole) alive between two runs of this one.
    const ids = (first: number) =>
      new Table({ id: makeVector(BigInt64Array.from({ length: 1000 }, (_, i) => BigInt(first + i))) });
    const file = path.join(scratch.dir, 'rewritten-between-runs.parquet');
    const other = new ParquetDecoder();
    try {
      const held = datasetFixture('userdata1.parquet');
      const { size, mtimeMs } = statSync(held);
      await other.decode({
        file: held,
        rowGroup: 0,
        batchSize: 100,
        columns: undefined,
        inMemory: true,
        listed: { size, mtimeMs },
      });
      const firstIds = async () => {
        const files = await scanParquet(file);
        const source = parquetSourceOver(files.schema, files.groups, { batchSize: 1000 }, file);
        for await (const b of source.batches()) return Number(b.getChild('id')!.get(0));
        return undefined;
      };
      writeParquet(file, ids(0));
      expect(await firstIds()).toBe(0);
      writeParquet(file, ids(100_000));
      expect(await firstIds()).toBe(100_000);
    } finally {
      await other.close();
    }
  });

  it('refuses a first row group decoded ahead (before the lock) once the file has changed', async () => {
    const file = path.join(scratch.dir, 'changed-after-warm.parquet');
    copyFileSync(datasetFixture('userdata1.parquet'), file);
    const files = await scanParquet(file);
    const source = parquetSourceOver(files.schema, files.groups, { batchSize: 100 }, file);
    const before = parquetThreadBusyMs();
    source.warm!();
    // Wait until the warmed row group has been decoded (the thread's busy time moves), then change
    // the file: as a writer does while a run waits for its lock.
    while (parquetThreadBusyMs() === before) await new Promise((r) => setTimeout(r, 5));
    const later = new Date(statSync(file).mtimeMs + 5000);
    utimesSync(file, later, later);
    const read = async () => {
      for await (const b of source.batches()) expect(b.numRows).toBeGreaterThan(0);
    };
    await expect(read()).rejects.toThrow(/changed after the run listed it/);
  });

  describe('a directory of many files, their footers read a few dozen at a time', () => {
    const iris = () => csvTable(datasetFixture('iris.csv'), { Sepal_Length: 'float' });
    // The footer of a file whose schema list claims 2^31 elements: the decoder traps on it
    // ("unreachable") and takes the Parquet thread down.
    const trapping = () =>
      (() => {
        const meta = Buffer.from([0x15, 0x02, 0x19, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07]);
        const len = Buffer.alloc(4);
        len.writeUInt32LE(meta.length);
        return Buffer.concat([Buffer.from('PAR1'), meta, len, Buffer.from('PAR1')]);
      })();

    it('reads more files than one task holds, every row group in file order', async () => {
      const t = iris();
      for (let i = 0; i < 70; i++)
        writeParquet(path.join(scratch.dir, 'many', `p${String(i).padStart(3, '0')}.parquet`), t);
      const files = await scanParquet(path.join(scratch.dir, 'many'));
      expect(files.groups.length).toBe(70);
      expect(files.groups.map((g) => path.basename(g.file))).toEqual(
        Array.from({ length: 70 }, (_, i) => `p${String(i).padStart(3, '0')}.parquet`),
      );
      expect((await readAll(path.join(scratch.dir, 'many'))).rows).toBe(70 * 150);
    });

    // Each case: the files in order, and the one the error must name (the first bad one, whatever
    // kind of bad: no magic, a footer the decoder refuses, one it traps on).
    const bad = {
      magic: () => Buffer.from('id,x\n1,2\n'),
      footer: () => readFileSync(parquetFixture('bad_data/PARQUET-1481.parquet')),
      trap: trapping,
    };
    const cases: [string, (keyof typeof bad | 'good')[], number, RegExp][] = [
      ['no magic before a bad footer', ['good', 'magic', 'footer'], 1, /is not a Parquet file \(no PAR1 magic\)/],
      ['a bad footer before no magic', ['good', 'footer', 'magic'], 1, /is not a readable Parquet file/],
      [
        'a trap before no magic',
        ['good', 'good', 'trap', 'magic'],
        2,
        /is not a readable Parquet file \(unreachable\)/,
      ],
      ['no magic before a trap', ['good', 'magic', 'trap'], 1, /no PAR1 magic/],
      ['a bad footer before a trap', ['footer', 'trap', 'good'], 0, /is not a readable Parquet file/],
    ];
    it('names a file that is gone, or changed, between listing and reading (exit 1, the run may be retried)', async () => {
      const dir = path.join(scratch.dir, 'listed');
      for (let i = 0; i < 4; i++) writeParquet(path.join(dir, `f${i}.parquet`), iris());
      const find = LOCAL_FILES.find;
      try {
        for (const [what, change] of [
          ['gone', (f: string) => rmSync(f)],
          // A larger valid file: its tail is no longer where the listing says.
          [
            'rewritten',
            (f: string) =>
              writeParquet(f, new Table({ x: makeVector(Float64Array.from({ length: 5000 }, Math.random)) })),
          ],
          ['a directory now', (f: string) => (rmSync(f), mkdirSync(f))],
          // As many bytes, none of them Parquet's: its time says it changed, not its size.
          ['overwritten', (f: string) => writeFileSync(f, Buffer.alloc(statSync(f).size, 65))],
        ] as const) {
          LOCAL_FILES.find = async (pattern) => {
            const listed = await find(pattern);
            change(listed[2]!.file);
            return listed;
          };
          const err = await scanParquet(dir).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err, what).toBeInstanceOf(MlscaleError);
          expect((err as MlscaleError).exitCode, what).toBe(1);
          expect((err as Error).message, what).toBe(
            `source: ${path.join(dir, 'f2.parquet')} changed after the run listed it (its size or modification time differ, or it is gone); nothing was published. Run again once the files are written.`,
          );
          LOCAL_FILES.find = find;
          rmSync(path.join(dir, 'f2.parquet'), { recursive: true, force: true });
          writeParquet(path.join(dir, 'f2.parquet'), iris());
        }
      } finally {
        LOCAL_FILES.find = find;
      }
    });

    it.each(cases)('names the first bad file: %s', async (name, kinds, first, message) => {
      const dir = path.join(scratch.dir, 'order', name.replace(/ /g, '-'));
      kinds.forEach((k, i) => {
        const file = path.join(dir, `f${i}.parquet`);
        if (k === 'good') writeParquet(file, iris());
        else {
          mkdirSync(dir, { recursive: true });
          writeFileSync(file, bad[k]());
        }
      });
      const err = await scanParquet(dir).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toMatch(new RegExp(`^source: ${path.join(dir, `f${first}.parquet`)} `));
      expect((err as Error).message).toMatch(message);
      // The thread the trap took down is replaced: the next scan reads.
      expect((await readAll(path.join(dir, `f${kinds.indexOf('good')}.parquet`))).rows).toBe(150);
    });
  });

  // Root can read anything: the walk is tried as nobody, where this machine lets the test switch.
  const asNobody = process.getuid?.() === 0 && spawnSync('runuser', ['-u', 'nobody', '--', 'true']).status === 0;
  it.skipIf(!asNobody)(
    'fails a scan below a directory it cannot list, naming it (exit 2), and not a glob that passes it by',
    () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'mlscale-unlisted-'));
      try {
        const t = csvTable(datasetFixture('iris.csv'), { Sepal_Length: 'float' });
        writeParquet(path.join(dir, 'a', 'p0.parquet'), t);
        writeParquet(path.join(dir, 'b', 'p1.parquet'), t);
        for (const d of [dir, path.join(dir, 'a')]) chmodSync(d, 0o755);
        chmodSync(path.join(dir, 'a', 'p0.parquet'), 0o644);
        chmodSync(path.join(dir, 'b'), 0o000);
        const find = (pattern: string) => {
          const module = pathToFileURL(path.resolve('dist/source/find-files.js')).href;
          const script = `import(${JSON.stringify(module)}).then((m) => m.findFiles(${JSON.stringify(pattern)})).then((f) => console.log(JSON.stringify(f)), (e) => { console.log(e.message); process.exit(e.exitCode ?? 1); })`;
          const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, '-e', script], { encoding: 'utf8' });
          return { status: r.status, out: r.stdout.trim() };
        };
        expect(find(dir)).toEqual({
          status: 2,
          out: `source: the directory ${path.join(dir, 'b')} cannot be listed (EACCES); check that mlscale may read it, or name the files to read in source.parquet.path.`,
        });
        expect(find(path.join(dir, 'a', '*.parquet'))).toEqual({
          status: 0,
          out: JSON.stringify([path.join(dir, 'a', 'p0.parquet')]),
        });
      } finally {
        chmodSync(path.join(dir, 'b'), 0o755);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('keeps the fixtures outside the project', () => {
    expect(path.relative(path.resolve('.'), fixtures).startsWith('..')).toBe(true);
  });
});
