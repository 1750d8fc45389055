import { describe, expect, it } from 'vitest';
import {
  classify,
  isComplete,
  keeps,
  keepsOther,
  legacyName,
  partFile,
  runFile,
} from '../../src/sink/partition-files.js';

const one = { index: 0, count: 1 };
const s = (index: number, count: number) => ({ index, count });

describe('partition files', () => {
  it('names each shard’s files apart, and an unsharded run’s as before', () => {
    expect(partFile(one, 3)).toBe('part-00003.parquet');
    expect(partFile(s(1, 4), 12)).toBe('part-s1of4-00012.parquet');
    expect(runFile(one)).toBe('_mlscale_run.json');
    expect(runFile(s(1, 4))).toBe('_mlscale_run-s1of4.json');
  });

  it.each([
    ['part-00000.parquet', false, { kind: 'part', shard: one }],
    ['part-s2of3-00001.parquet', false, { kind: 'part', shard: s(2, 3) }],
    ['_mlscale_run.json', false, { kind: 'run', shard: one }],
    ['_mlscale_run-s0of2.json', false, { kind: 'run', shard: s(0, 2) }],
    ['shard-1-of-2', true, { kind: 'legacy', shard: s(1, 2) }],
    ['_SUCCESS', false, { kind: 'success' }],
    ['shard-1-of-2', false, { kind: 'other' }],
    ['part-s2of2-00000.parquet', false, { kind: 'other' }],
    ['part-s0of1-00000.parquet', false, { kind: 'other' }],
    ['notes.txt', false, { kind: 'other' }],
  ] as const)('classifies %s (directory: %s)', (name, dir, entry) => {
    expect(classify(name, dir)).toEqual(entry);
  });

  it('a shard keeps only the other shards of its own count', () => {
    expect(keeps(s(0, 2), s(1, 2))).toBe(true);
    expect(keeps(s(0, 2), s(0, 2))).toBe(false);
    expect(keeps(s(0, 2), s(1, 3))).toBe(false);
    expect(keeps(s(0, 2), one)).toBe(false);
    expect(keeps(one, s(1, 2))).toBe(false);
    expect(keepsOther(s(0, 2), 'notes.txt')).toBe(true);
    expect(keepsOther(s(0, 2), '.shard-0-of-2.mlscale.lock')).toBe(false);
    expect(keepsOther(one, 'notes.txt')).toBe(false);
  });

  it('moves a legacy shard directory’s data and run file to partition depth', () => {
    expect(legacyName(s(1, 2), 'part-00007.parquet')).toBe('part-s1of2-00007.parquet');
    expect(legacyName(s(1, 2), '_mlscale_run.json')).toBe('_mlscale_run-s1of2.json');
    expect(legacyName(s(1, 2), '_SUCCESS')).toBeUndefined();
    expect(legacyName(s(1, 2), '_rejects.parquet')).toBeUndefined();
  });

  it('is complete with an unsharded publish or every shard of one count', () => {
    expect(isComplete([one])).toBe(true);
    expect(isComplete([s(0, 2)])).toBe(false);
    expect(isComplete([s(1, 2), s(0, 2)])).toBe(true);
    expect(isComplete([s(0, 3), s(1, 3), s(0, 2)])).toBe(false);
  });
});
