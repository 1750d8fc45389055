import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { parseShard } from '../../src/config/template.js';
import { shardGroups } from '../../src/source/open-source.js';
import type { RowGroupRef } from '../../src/source/parquet.js';

const noEnv: NodeJS.ProcessEnv = {};
const notIN = (where: string, text: string) =>
  `${where}: "${text}" is not I/N; write the shard index and the shard count, e.g. --shard 0/4.`;
const noShard = (where: string, index: number, count: number, last: number) =>
  `${where}: shard ${index} of ${count} does not exist; the index runs from 0 to ${last}.`;

function usageError(f: () => unknown): UsageError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('parseShard: --shard I/N', () => {
  it('is 0 of 1 when neither the flag nor the Indexed Job variables are given', () => {
    expect(parseShard(undefined, noEnv)).toEqual({ index: 0, count: 1 });
  });

  it('parses I/N, with surrounding blanks and leading zeros', () => {
    expect(parseShard('0/4', noEnv)).toEqual({ index: 0, count: 4 });
    expect(parseShard('3/4', noEnv)).toEqual({ index: 3, count: 4 });
    expect(parseShard('  2/3\n', noEnv)).toEqual({ index: 2, count: 3 });
    expect(parseShard('007/010', noEnv)).toEqual({ index: 7, count: 10 });
    expect(parseShard('0/1', noEnv)).toEqual({ index: 0, count: 1 });
  });

  it('refuses text that is not I/N, quoting it as given', () => {
    for (const text of ['', '4', '1/', '/4', 'a/b', '-1/4', '1/-4', '1.5/4', '1 / 4', '1/4/8', '0x1/4', '１/4'])
      expect(usageError(() => parseShard(text, noEnv)).message, JSON.stringify(text)).toBe(notIN('--shard', text));
  });

  it('refuses an index outside 0..N-1 and a count of 0', () => {
    expect(usageError(() => parseShard('4/4', noEnv)).message).toBe(noShard('--shard', 4, 4, 3));
    expect(usageError(() => parseShard('9/2', noEnv)).message).toBe(noShard('--shard', 9, 2, 1));
    expect(usageError(() => parseShard('0/0', noEnv)).message).toBe(noShard('--shard', 0, 0, 0));
    expect(usageError(() => parseShard('1/0', noEnv)).message).toBe(noShard('--shard', 1, 0, 0));
  });

  it('is a usage error: exit code 2', () => {
    const err = usageError(() => parseShard('x', noEnv));
    expect(err.exitCode).toBe(2);
    expect(err.code).toBe('usage');
  });
});

describe('parseShard: JOB_COMPLETION_INDEX and MLSCALE_SHARDS', () => {
  it('reads the shard of a Kubernetes Indexed Job', () => {
    expect(parseShard(undefined, { JOB_COMPLETION_INDEX: '2', MLSCALE_SHARDS: '3' })).toEqual({ index: 2, count: 3 });
    expect(parseShard(undefined, { JOB_COMPLETION_INDEX: '0', MLSCALE_SHARDS: '1' })).toEqual({ index: 0, count: 1 });
  });

  it('lets --shard win over the environment', () => {
    expect(parseShard('1/2', { JOB_COMPLETION_INDEX: '5', MLSCALE_SHARDS: '9' })).toEqual({ index: 1, count: 2 });
  });

  it('an Indexed Job index without MLSCALE_SHARDS is refused (each pod would score everything); MLSCALE_SHARDS alone is unsharded', () => {
    expect(usageError(() => parseShard(undefined, { JOB_COMPLETION_INDEX: '3' })).message).toBe(
      'JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but MLSCALE_SHARDS is not; set MLSCALE_SHARDS to the number of completions, or pass --shard I/N.',
    );
    expect(parseShard('1/2', { JOB_COMPLETION_INDEX: '3' })).toEqual({ index: 1, count: 2 });
    expect(parseShard(undefined, { MLSCALE_SHARDS: '4' })).toEqual({ index: 0, count: 1 });
  });

  it('names the variables in its errors', () => {
    const where = 'JOB_COMPLETION_INDEX/MLSCALE_SHARDS';
    expect(usageError(() => parseShard(undefined, { JOB_COMPLETION_INDEX: '4', MLSCALE_SHARDS: '4' })).message).toBe(
      noShard(where, 4, 4, 3),
    );
    expect(usageError(() => parseShard(undefined, { JOB_COMPLETION_INDEX: '', MLSCALE_SHARDS: '4' })).message).toBe(
      notIN(where, '/4'),
    );
    expect(usageError(() => parseShard(undefined, { JOB_COMPLETION_INDEX: '1', MLSCALE_SHARDS: 'four' })).message).toBe(
      notIN(where, '1/four'),
    );
    expect(usageError(() => parseShard(undefined, { JOB_COMPLETION_INDEX: '0', MLSCALE_SHARDS: '0' })).message).toBe(
      noShard(where, 0, 0, 0),
    );
  });
});

describe('shardGroups', () => {
  // Seven row groups over three files, in the sorted order the scanner lists them.
  const groups: RowGroupRef[] = [
    ...[0, 1, 2].map((g) => ({ file: '/d/a.parquet', fileSize: 100, mtimeMs: 0, rowGroup: g, rows: 10 + g })),
    ...[0, 1].map((g) => ({ file: '/d/b.parquet', fileSize: 100, mtimeMs: 0, rowGroup: g, rows: 20 + g })),
    ...[0, 1].map((g) => ({ file: '/d/c.parquet', fileSize: 100, mtimeMs: 0, rowGroup: g, rows: 30 + g })),
  ];
  const id = (g: RowGroupRef) => `${g.file}#${g.rowGroup}`;

  it('gives shard i every N-th group starting at i', () => {
    expect(shardGroups(groups, { index: 0, count: 3 }).map(id)).toEqual([
      '/d/a.parquet#0',
      '/d/b.parquet#0',
      '/d/c.parquet#1',
    ]);
    expect(shardGroups(groups, { index: 1, count: 3 }).map(id)).toEqual(['/d/a.parquet#1', '/d/b.parquet#1']);
    expect(shardGroups(groups, { index: 2, count: 3 }).map(id)).toEqual(['/d/a.parquet#2', '/d/c.parquet#0']);
    expect(shardGroups(groups, { index: 0, count: 1 })).toEqual(groups);
  });

  it('covers each group exactly once over the N shards, for every N', () => {
    for (let n = 1; n <= groups.length + 2; n++) {
      const seen = new Map<string, number>();
      let rows = 0;
      for (let i = 0; i < n; i++) {
        const mine = shardGroups(groups, { index: i, count: n });
        // Shards differ in size by at most one group, and keep the scan order.
        expect(mine.length).toBe(Math.floor(groups.length / n) + (i < groups.length % n ? 1 : 0));
        expect(mine.map((g) => groups.indexOf(g))).toEqual(
          [...mine.map((g) => groups.indexOf(g))].sort((a, b) => a - b),
        );
        for (const g of mine) {
          seen.set(id(g), (seen.get(id(g)) ?? 0) + 1);
          rows += g.rows;
        }
      }
      expect([...seen.keys()].sort(), `N=${n}`).toEqual(groups.map(id).sort());
      expect(
        [...seen.values()].every((k) => k === 1),
        `N=${n}`,
      ).toBe(true);
      expect(rows).toBe(groups.reduce((s, g) => s + g.rows, 0));
    }
  });

  it('leaves shards past the number of groups empty', () => {
    expect(shardGroups(groups, { index: 7, count: 8 })).toEqual([]);
    expect(shardGroups([], { index: 0, count: 2 })).toEqual([]);
  });
});
