import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { findFiles } from '../../src/source/find-files.js';
import { scratchDir } from '../support/job.js';

const s = scratchDir('find-files');
const touch = (...names: string[]) => {
  for (const name of names) {
    mkdirSync(path.dirname(path.join(s.dir, name)), { recursive: true });
    writeFileSync(path.join(s.dir, name), '');
  }
};
const found = async (pattern: string) =>
  (await findFiles(path.join(s.dir, pattern))).map((f) => path.relative(s.dir, f));

beforeAll(() =>
  touch(
    'd/ds=2024-01-01/a.parquet',
    'd/ds=2024-01-01/b.parquet',
    'd/ds=2024-01-01/_SUCCESS',
    'd/ds=2024-01-01/_mlscale_run.json',
    'd/ds=2024-01-01/.a.parquet.crc',
    'd/ds=2024-01-01/_c.parquet',
    'd/ds=2024-01-01/.d.parquet',
    'd/ds=2024-01-01/sub/e.parquet',
    'd/ds=2024-01-02/a.parquet',
    'd/ds=2024-01-03/a.parquet',
    'd/ds=2024-01-10/a.parquet',
    'd/_mlscale/runs/r.parquet',
    'd/.ds=2024-01-01.mlscale-run/part-00000.parquet',
    'd/_tmp/z.parquet',
    'p/file(1).parquet',
    'p/x[1].parquet',
  ),
);
afterAll(() => s.remove());

describe('findFiles', () => {
  it.each([
    ['a file, as named', 'd/ds=2024-01-01/a.parquet', ['d/ds=2024-01-01/a.parquet']],
    ['a file starting with _, as named', 'd/ds=2024-01-01/_c.parquet', ['d/ds=2024-01-01/_c.parquet']],
    [
      'a directory: every file below it but _ and . names',
      'd/ds=2024-01-01',
      ['d/ds=2024-01-01/a.parquet', 'd/ds=2024-01-01/b.parquet', 'd/ds=2024-01-01/sub/e.parquet'],
    ],
    [
      '* skips _ and . files as a directory does',
      'd/ds=2024-01-01/*',
      ['d/ds=2024-01-01/a.parquet', 'd/ds=2024-01-01/b.parquet'],
    ],
    [
      '*.parquet skips _c.parquet and .d.parquet',
      'd/ds=2024-01-01/*.parquet',
      ['d/ds=2024-01-01/a.parquet', 'd/ds=2024-01-01/b.parquet'],
    ],
    ['a character class', 'd/ds=2024-01-0[12]/a.parquet', ['d/ds=2024-01-01/a.parquet', 'd/ds=2024-01-02/a.parquet']],
    [
      'a range',
      'd/ds=2024-01-[01][0-2]/a.parquet',
      ['d/ds=2024-01-01/a.parquet', 'd/ds=2024-01-02/a.parquet', 'd/ds=2024-01-10/a.parquet'],
    ],
    ['braces', 'd/ds=2024-01-0{1,3}/a.parquet', ['d/ds=2024-01-01/a.parquet', 'd/ds=2024-01-03/a.parquet']],
    ['?', 'd/ds=2024-01-1?/a.parquet', ['d/ds=2024-01-10/a.parquet']],
    [
      '* over directories skips _ and . directories',
      'd/*/a.parquet',
      [
        'd/ds=2024-01-01/a.parquet',
        'd/ds=2024-01-02/a.parquet',
        'd/ds=2024-01-03/a.parquet',
        'd/ds=2024-01-10/a.parquet',
      ],
    ],
    [
      '** never enters _ or . directories',
      'd/**/*.parquet',
      [
        'd/ds=2024-01-01/a.parquet',
        'd/ds=2024-01-01/b.parquet',
        'd/ds=2024-01-01/sub/e.parquet',
        'd/ds=2024-01-02/a.parquet',
        'd/ds=2024-01-03/a.parquet',
        'd/ds=2024-01-10/a.parquet',
      ],
    ],
    ['a _ directory named before the first wildcard', 'd/_tmp/*.parquet', ['d/_tmp/z.parquet']],
    ['an existing path with ( and [ in it, as named', 'p/file(1).parquet', ['p/file(1).parquet']],
    ['an existing path with [ ], as named', 'p/x[1].parquet', ['p/x[1].parquet']],
    ['nothing', 'nope/*.parquet', []],
    ['a missing file', 'd/nope.parquet', []],
  ])('%s', async (_what, pattern, expected) => {
    expect(await found(pattern)).toEqual(expected);
  });

  it.each([
    ['d/ds=2024-01-0[12/*.parquet', 'a "[" without its "]"; a backslash makes it literal'],
    ['d/ds=2024-01-0{1,2/*.parquet', 'a "{" without its "}"; a backslash makes it literal'],
    ['d/ds=2024-01-0[2-1]/*.parquet', 'range out of order in character class'],
  ])('refuses the bad pattern %s (exit 2)', async (pattern, reason) => {
    const full = path.join(s.dir, pattern);
    const err = await findFiles(full).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    expect((err as UsageError).message).toBe(
      `source: ${full} is not a valid glob (${reason}); fix source.parquet.path.`,
    );
  });
});
