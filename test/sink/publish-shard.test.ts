import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { publishShard } from '../../src/sink/publish-shard.js';
import { recoverDir, siblings } from '../../src/sink/publish-dir.js';

let root: string;
let target: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'mlscale-publish-'));
  target = path.join(root, 'ds=2024-01-01');
});
afterEach(() => rm(root, { recursive: true, force: true }));

async function put(rel: string, text: string): Promise<string> {
  const file = path.join(root, rel);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  return file;
}
const list = async (dir = target) => (await readdir(dir)).sort();

describe('publishShard', () => {
  it('keeps the other shards’ files (the same inodes), replaces its own, and marks the partition once whole', async () => {
    const a = await put('stage0/a', 'shard 0');
    await publishShard(target, { index: 0, count: 2 }, 'r0', new Map([['part-s0of2-00000.parquet', a]]));
    expect(await list()).toEqual(['part-s0of2-00000.parquet']);
    const b = await put('stage1/b', 'shard 1');
    await publishShard(target, { index: 1, count: 2 }, 'r1', new Map([['part-s1of2-00000.parquet', b]]));
    expect(await list()).toEqual(['_SUCCESS', 'part-s0of2-00000.parquet', 'part-s1of2-00000.parquet']);
    expect((await stat(path.join(target, 'part-s0of2-00000.parquet'))).ino).toBe((await stat(a)).ino);
    const c = await put('stage0/c', 'shard 0 again');
    await publishShard(target, { index: 0, count: 2 }, 'r2', new Map([['part-s0of2-00000.parquet', c]]));
    expect(await readFile(path.join(target, 'part-s0of2-00000.parquet'), 'utf8')).toBe('shard 0 again');
    expect(await readFile(path.join(target, 'part-s1of2-00000.parquet'), 'utf8')).toBe('shard 1');
    // Nothing is left beside the partition.
    expect(await list(root)).toEqual(['ds=2024-01-01', 'stage0', 'stage1']);
  });

  it('moves shard directories of the previous layout to partition depth, and drops another count’s', async () => {
    await put('ds=2024-01-01/shard-0-of-2/part-00000.parquet', 'old 0');
    await put('ds=2024-01-01/shard-0-of-2/_mlscale_run.json', '{}');
    await put('ds=2024-01-01/shard-0-of-2/_SUCCESS', '');
    await put('ds=2024-01-01/shard-1-of-2/part-00000.parquet', 'old 1');
    await put('ds=2024-01-01/shard-2-of-3/part-00000.parquet', 'other count');
    await put('ds=2024-01-01/.shard-1-of-2.lock', 'old lock');
    await put('ds=2024-01-01/notes.txt', 'someone else’s');
    const b = await put('stage/b', 'new 1');
    await publishShard(target, { index: 1, count: 2 }, 'r', new Map([['part-s1of2-00000.parquet', b]]));
    expect(await list()).toEqual([
      '_SUCCESS',
      '_mlscale_run-s0of2.json',
      'notes.txt',
      'part-s0of2-00000.parquet',
      'part-s1of2-00000.parquet',
    ]);
    expect(await readFile(path.join(target, 'part-s0of2-00000.parquet'), 'utf8')).toBe('old 0');
  });

  it('an unsharded publish replaces everything', async () => {
    await put('ds=2024-01-01/part-s0of2-00000.parquet', 'x');
    await put('ds=2024-01-01/notes.txt', 'y');
    const a = await put('stage/a', 'whole');
    await publishShard(target, { index: 0, count: 1 }, 'r', new Map([['part-00000.parquet', a]]));
    expect(await list()).toEqual(['_SUCCESS', 'part-00000.parquet']);
  });

  it('an abort before the swap leaves the partition and nothing beside it', async () => {
    await put('ds=2024-01-01/part-00000.parquet', 'live');
    const a = await put('stage/a', 'new');
    const aborted = new AbortController();
    aborted.abort(new Error('SIGTERM'));
    await expect(
      publishShard(target, { index: 0, count: 1 }, 'r', new Map([['part-00000.parquet', a]]), aborted.signal),
    ).rejects.toThrow('SIGTERM');
    expect(await readFile(path.join(target, 'part-00000.parquet'), 'utf8')).toBe('live');
    expect(await list(root)).toEqual(['ds=2024-01-01', 'stage']);
  });
});

describe('recoverDir', () => {
  it('puts a set-aside copy back when the partition is missing, and drops half-built ones', async () => {
    const names = siblings(target);
    await put(`${path.basename(names.aside('dead'))}/part-00000.parquet`, 'old');
    await put(`${path.basename(names.next('dead'))}/part-00000.parquet`, 'never published');
    await put(`${path.basename(names.staging({ index: 1, count: 2 }, 'live'))}/part-00000`, 'another shard’s run');
    expect(await recoverDir(target)).toBe(names.aside('dead'));
    expect(await readFile(path.join(target, 'part-00000.parquet'), 'utf8')).toBe('old');
    // A staging directory may belong to a live run of another shard: not recovery's to remove.
    expect(await list(root)).toEqual(
      [path.basename(names.staging({ index: 1, count: 2 }, 'live')), 'ds=2024-01-01'].sort(),
    );
  });
});
