import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, mlscale } from '../support/cli.js';
import { csvTable, writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';
import { datasetFixture, onnxFixture } from '../support/paths.js';

// Source globs through the real CLI: classes and braces match, `_` and `.` files are passed by
// (junk that would fail the run if read), and a bad pattern is exit 2 in one sentence.
const s = scratchDir('globs');
const job = (source: string) =>
  s.file(
    `job-${Math.random().toString(36).slice(2)}.yaml`,
    `name: iris_globs
params:
  ds: "2024-01-01"
model:
  path: ${onnxFixture('test_xgb.onnx')}
  features: [Sepal_Length, Sepal_Width, Petal_Length, Petal_Width]
source:
  parquet: { path: "${source}" }
sink:
  parquet: { path: "out/ds={{ ds }}" }
`,
  );

beforeAll(() => {
  const iris = csvTable(datasetFixture('iris.csv'), {
    Sepal_Length: 'float',
    Sepal_Width: 'float',
    Petal_Length: 'float',
    Petal_Width: 'float',
  });
  for (const day of ['01', '02', '03']) {
    const dir = path.join(s.dir, 'iris', `ds=2024-01-${day}`);
    writeParquet(path.join(dir, 'part-0.parquet'), iris);
    // Not Parquet: a run that read either would fail.
    writeFileSync(path.join(dir, '_part-1.parquet'), 'not parquet');
    writeFileSync(path.join(dir, '.part-2.parquet'), 'not parquet');
  }
  mkdirSync(path.join(s.dir, 'iris', '_tmp'), { recursive: true });
  writeFileSync(path.join(s.dir, 'iris', '_tmp', 'x.parquet'), 'not parquet');
});
afterAll(() => s.remove());

const rowsRead = async (source: string) => {
  const r = await mlscale(['score', '--dry-run', '--json', '--job', job(source)], { cwd: s.dir });
  expect(errorLine(r)).toBe('');
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as { rowsRead: number }).rowsRead;
};

describe('source globs through the real CLI', () => {
  it('matches character classes, ranges and braces, and passes _ and . files by', async () => {
    expect(await rowsRead('iris/ds=2024-01-0[12]/*.parquet')).toBe(300);
    expect(await rowsRead('iris/ds=2024-01-0{1,3}/*.parquet')).toBe(300);
    expect(await rowsRead('iris/ds=2024-01-0[1-3]/*.parquet')).toBe(450);
    expect(await rowsRead('iris/*/*.parquet')).toBe(450);
    expect(await rowsRead('iris/**/*.parquet')).toBe(450);
    expect(await rowsRead('iris')).toBe(450);
  });

  it.each(['score', 'validate'])('%s: a bad pattern is exit 2, one sentence', async (command) => {
    const r = await mlscale([command, '--job', job('iris/ds=2024-01-0[12/*.parquet')], { cwd: s.dir });
    expect(r.code).toBe(2);
    expect(errorLine(r)).toBe(
      `error: source: ${path.join(s.dir, 'iris', 'ds=2024-01-0[12', '*.parquet')} is not a valid glob (a "[" without its "]"; a backslash makes it literal); fix source.parquet.path.`,
    );
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe('');
  });
});
