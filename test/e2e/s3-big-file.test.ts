import { statSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, mlscale } from '../support/cli.js';
import { scratchDir } from '../support/job.js';
import { startS3, testClient, uploadFile, type TestS3, irisJob } from '../support/s3.js';

// A Parquet object of several hundred MB, most of it a wide column the job does not read, scored
// from the store: mlscale fetches the footer and the needed column chunks by ranged GETs, so its
// peak memory stays far below the file's size and close to that of a tiny input.
const s = scratchDir('s3-big');
let s3: TestS3;
let size = 0;
// Big enough that half its size stays well above any run's own floor (about 190 MB: four isolates, onnxruntime, parquet-wasm).
const ROWS = 200_000;

const job = (source: string) =>
  s.file(
    `job-${Math.random().toString(36).slice(2)}.yaml`,
    irisJob({ name: 'big_s3', source, sink: 'out/ds={{ ds }}', extra: 'parallelism: 1\n' }),
  );

beforeAll(async () => {
  s3 = await startS3();
  const client = await testClient(s3);
  const file = path.join(s.dir, 'big.parquet');
  const db = await (await DuckDBInstance.create(':memory:')).connect();
  // 2.5 kB of incompressible-looking text per row, stored uncompressed: ~400 MB.
  const copy = (rows: number, to: string) =>
    db.run(`COPY (
      SELECT i AS row_id, (4 + i % 40 / 10)::FLOAT AS Sepal_Length, (2 + i % 20 / 10)::FLOAT AS Sepal_Width,
             (1 + i % 60 / 10)::FLOAT AS Petal_Length, (i % 25 / 10)::FLOAT AS Petal_Width,
             repeat(md5(i::VARCHAR), 80) AS padding
      FROM range(${rows}) t(i)
    ) TO '${to}' (FORMAT parquet, COMPRESSION uncompressed, ROW_GROUP_SIZE 20000)`);
  await copy(ROWS, file);
  // The same columns in 1000 rows: the memory mlscale needs for any input.
  await copy(1000, path.join(s.dir, 'small.parquet'));
  db.closeSync();
  size = statSync(file).size;
  await uploadFile(client, s3.bucket, 'big/big.parquet', file);
  await uploadFile(client, s3.bucket, 'small/small.parquet', path.join(s.dir, 'small.parquet'));
}, 120_000);
afterAll(async () => {
  await s3?.stop();
  s.remove();
});

const score = async (source: string) => {
  const r = await mlscale(['score', '--dry-run', '--json', '--job', job(source)], {
    cwd: s.dir,
    env: s3.env,
    timeoutMs: 100_000,
  });
  expect(errorLine(r)).toBe('');
  return JSON.parse(r.stdout) as { rowsRead: number; peakRssMb: number };
};

describe('a large Parquet object read from the store', () => {
  it('is read by ranged GETs of its footer and needed columns, in bounded memory', async () => {
    expect(size).toBeGreaterThan(350 * 1024 * 1024);
    const small = await score('s3://mlscale-test/small/small.parquet');
    s3.reset();
    const big = await score('s3://mlscale-test/big/big.parquet');
    expect(big.rowsRead).toBe(ROWS);
    const gets = s3.requests.filter((r) => r.method === 'GET' && r.url.startsWith('/mlscale-test/big/big.parquet'));
    expect(gets.every((r) => r.range !== undefined)).toBe(true);
    const fetched = gets.reduce((n, r) => {
      const [a, b] = r.range!.replace('bytes=', '').split('-').map(Number);
      return n + (b! - a! + 1);
    }, 0);
    console.log(
      `big object: ${(size / 2 ** 20).toFixed(0)} MiB, ${gets.length} ranged GETs fetching ${(fetched / 2 ** 20).toFixed(1)} MiB, peak RSS ${big.peakRssMb} MB (${small.peakRssMb} MB for 1000 rows)`,
    );
    expect(fetched).toBeLessThan(size / 20);
    expect(big.peakRssMb * 2 ** 20).toBeLessThan(size / 2);
    expect(big.peakRssMb - small.peakRssMb).toBeLessThan(size / 2 ** 20 / 8);
  }, 110_000);
});
