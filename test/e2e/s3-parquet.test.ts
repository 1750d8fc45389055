import { readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { S3Client } from '../../src/s3/client.js';
import { errorLine, mlscale } from '../support/cli.js';
import { csvTable, writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';
import { datasetFixture } from '../support/paths.js';
import { download, startS3, testClient, type TestS3, irisJob } from '../support/s3.js';

// Parquet in and out of an S3-compatible store (s3rver behind a recording proxy), through the
// real CLI: globs over keys, shards, a publish and a re-run read back by DuckDB, the ledger from
// the store, throttling retried, wrong credentials refused in one sentence.
const s = scratchDir('s3');
let s3: TestS3;
let client: S3Client;
let instance: DuckDBInstance;
let db: DuckDBConnection;
/** Another encoding of the same rows: what a writer replaces a source file with mid-run. */
let rewritten: Uint8Array;

const job = (source: string, sink = 's3://mlscale-test/out/ds={{ ds }}', extra = '') =>
  s.file(
    `job-${Math.random().toString(36).slice(2)}.yaml`,
    irisJob({ name: 'iris_s3', source, sink, sinkOptions: `rows_per_file: 100${extra}` }),
  );

const run = (args: string[], env: Record<string, string> = {}) =>
  mlscale(args, { cwd: s.dir, env: { ...s3.env, ...env } });

beforeAll(async () => {
  s3 = await startS3();
  client = await testClient(s3);
  const iris = csvTable(
    datasetFixture('iris.csv'),
    { Sepal_Length: 'float', Sepal_Width: 'float', Petal_Length: 'float', Petal_Width: 'float' },
    { rowId: 'row_id' },
  );
  // Three row groups of 50 rows: the unit shards split.
  const bytes = readFileSync(writeParquet(path.join(s.dir, 'iris.parquet'), iris, 50));
  rewritten = readFileSync(writeParquet(path.join(s.dir, 'iris-75.parquet'), iris, 75));
  for (const day of ['01', '02', '03']) {
    await client.put(s3.bucket, `iris/ds=2024-01-${day}/part-0.parquet`, bytes);
    // Not Parquet: a run that read either would fail.
    await client.put(s3.bucket, `iris/ds=2024-01-${day}/_part-1.parquet`, 'not parquet');
    await client.put(s3.bucket, `iris/ds=2024-01-${day}/.part-2.parquet`, 'not parquet');
  }
  await client.put(s3.bucket, 'iris/_tmp/x.parquet', 'not parquet');
  instance = await DuckDBInstance.create(':memory:');
  db = await instance.connect();
});
afterAll(async () => {
  db?.closeSync();
  await s3?.stop();
  s.remove();
});

const rowsRead = async (source: string, args: string[] = []) => {
  const r = await run(['score', '--dry-run', '--json', '--job', job(source), ...args]);
  expect(errorLine(r)).toBe('');
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as { rowsRead: number }).rowsRead;
};

/** The partition's objects downloaded, and the rows DuckDB reads from its *.parquet files. */
async function readBack(prefix: string) {
  const dir = path.join(s.dir, `read-${Math.random().toString(36).slice(2)}`);
  const keys = await download(client, s3.bucket, prefix, dir);
  const parquet = keys.filter((k) => k.endsWith('.parquet') && !k.includes('/'));
  const reader = await db.runAndReadAll(
    `SELECT count(*)::INT AS n, count(DISTINCT row_id)::INT AS ids, min(run_id) AS run FROM read_parquet('${dir}/*.parquet')`,
  );
  const [n, ids, runId] = parquet.length ? (reader.getRows()[0] as [number, number, string]) : [0, 0, ''];
  const manifest = keys.includes('_mlscale_run.json')
    ? (JSON.parse(readFileSync(path.join(dir, '_mlscale_run.json'), 'utf8')) as { run_id: string; files: string[] })
    : undefined;
  rmSync(dir, { recursive: true, force: true });
  return { keys, parquet, n, ids, runId, manifest };
}

describe('s3:// sources', () => {
  it('globs over keys as over files, passing _ and . names by', async () => {
    expect(await rowsRead('s3://mlscale-test/iris/ds=2024-01-0[12]/*.parquet')).toBe(300);
    expect(await rowsRead('s3://mlscale-test/iris/**/*.parquet')).toBe(450);
    expect(await rowsRead('s3://mlscale-test/iris/ds=2024-01-02')).toBe(150);
    expect(await rowsRead('s3://mlscale-test/iris/ds=2024-01-02/part-0.parquet')).toBe(150);
  });

  it('splits the listed row groups among shards, each read exactly once', async () => {
    // Nine row groups of 50 rows in three files: shard 0 of 2 reads five, shard 1 four.
    const glob = 's3://mlscale-test/iris/*/*.parquet';
    expect([await rowsRead(glob, ['--shard', '0/2']), await rowsRead(glob, ['--shard', '1/2'])]).toEqual([250, 200]);
  });

  it('fails in one sentence when a file is rewritten while the run reads it (reads are pinned to the listed ETag)', async () => {
    await client.put(s3.bucket, 'changing/part-0.parquet', readFileSync(path.join(s.dir, 'iris.parquet')));
    s3.conditional = true;
    // The run listed the file and read its footer; before it fetches the rows, a writer replaces it.
    s3.fault = (req) =>
      req.method === 'GET' && req.url === '/mlscale-test/changing/part-0.parquet' && req.range === undefined
        ? { hold: client.put(s3.bucket, 'changing/part-0.parquet', rewritten) }
        : undefined;
    try {
      const r = await run(['score', '--dry-run', '--job', job('s3://mlscale-test/changing/part-0.parquet')]);
      expect(r.code).toBe(1);
      expect(errorLine(r)).toBe(
        'error: s3: s3://mlscale-test/changing/part-0.parquet was rewritten while this run read it (its ETag is no longer the one listed); run again once it stays put.',
      );
    } finally {
      s3.fault = undefined;
      s3.conditional = false;
    }
  });

  it('says in one sentence when a glob matches no key (exit 2)', async () => {
    const r = await run(['score', '--dry-run', '--job', job('s3://mlscale-test/nothing/*.parquet')]);
    expect(r.code).toBe(2);
    expect(errorLine(r)).toBe(
      'error: source: s3://mlscale-test/nothing/*.parquet matches no files; check source.parquet.path and the parameters in it (such as ds).',
    );
  });
});

describe('s3:// sinks', () => {
  const src = 's3://mlscale-test/iris/ds=2024-01-01/*.parquet';

  it('publishes a partition DuckDB reads whole, with its manifest, _SUCCESS and the ledger on the store', async () => {
    const r = await run(['score', '--job', job(src), '--run-id', 'first']);
    expect(errorLine(r)).toBe('');
    expect(r.code).toBe(0);
    const back = await readBack('out/ds=2024-01-01/');
    expect(back).toMatchObject({ n: 150, ids: 150, runId: 'first' });
    expect(back.keys.sort()).toEqual([
      '_SUCCESS',
      '_mlscale_run.json',
      'part-first-00000.parquet',
      'part-first-00001.parquet',
    ]);
    expect(back.manifest?.files).toEqual(['part-first-00000.parquet', 'part-first-00001.parquet']);
    // s3rver ignores If-None-Match: the run says its lock falls back to reading before and after.
    expect(r.stderr).toContain('ignores conditional writes (If-None-Match)');
    const runs = await run(['runs', '--dir', 's3://mlscale-test/out', '--json']);
    expect(errorLine(runs)).toBe('');
    expect((JSON.parse(runs.stdout) as { run_id: string; status: string }[]).map((x) => [x.run_id, x.status])).toEqual([
      ['first', 'succeeded'],
    ]);
    const report = await run(['report', 'first', '--dir', 's3://mlscale-test/out']);
    expect(report.code).toBe(0);
    expect(report.stdout).toContain('<html');
  });

  it('replaces on a re-run, never duplicates, and leaves no object of the run before', async () => {
    const r = await run(['score', '--job', job(src), '--run-id', 'second']);
    expect(errorLine(r)).toBe('');
    const back = await readBack('out/ds=2024-01-01/');
    expect(back).toMatchObject({ n: 150, ids: 150, runId: 'second' });
    expect(back.parquet).toEqual(['part-second-00000.parquet', 'part-second-00001.parquet']);
    const runs = await run(['runs', '--job', job(src), '--json']);
    expect((JSON.parse(runs.stdout) as { run_id: string }[]).map((x) => x.run_id)).toEqual(['second', 'first']);
  });

  it('retries throttled and failing requests (503 SlowDown, 500, 429) and still publishes once', async () => {
    s3.reset();
    let n = 0;
    s3.fault = (req) => {
      // The first upload of a part, the run file's PUT and a listing each fail once.
      const hit =
        (req.url.includes('partNumber=1') && n === 0) ||
        (req.method === 'PUT' && req.url.endsWith('_mlscale_run.json') && n === 1) ||
        (req.method === 'GET' && req.url.includes('prefix=') && n === 2);
      if (!hit) return undefined;
      const status = [503, 500, 429][n++]!;
      return {
        reply: status,
        code: status === 503 ? 'SlowDown' : status === 429 ? 'TooManyRequests' : 'InternalError',
      };
    };
    const r = await run(['score', '--job', job(src), '--run-id', 'third']);
    s3.fault = undefined;
    expect(errorLine(r)).toBe('');
    expect(n).toBe(3);
    expect(s3.requests.filter((x) => x.status && x.status >= 429).map((x) => x.status)).toEqual([503, 500, 429]);
    expect(await readBack('out/ds=2024-01-01/')).toMatchObject({ n: 150, ids: 150, runId: 'third' });
  });

  it('refuses wrong credentials with exit 1 in one sentence, the secret printed nowhere', async () => {
    const secret = 'wrong-Secret/Key+123';
    const r = await run(['score', '--job', job(src)], { AWS_SECRET_ACCESS_KEY: secret });
    expect(r.code).toBe(1);
    expect(errorLine(r)).toBe(
      `error: s3: ${s3.endpoint} refused the credentials for s3://mlscale-test/iris/ds=2024-01-01/*.parquet (SignatureDoesNotMatch); check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the profile (credentials from AWS_ACCESS_KEY_ID in the environment).`,
    );
    expect(r.stdout + r.stderr).not.toContain(secret);
    const wrongId = await run(['runs', '--dir', 's3://mlscale-test/out'], { AWS_ACCESS_KEY_ID: 'NOBODY' });
    expect(wrongId.code).toBe(1);
    expect(errorLine(wrongId)).toContain('refused the credentials for s3://mlscale-test/out (InvalidAccessKeyId)');
  });

  it('refuses a partition whose lock a live run holds (exit 4)', async () => {
    const lock = 'out/_mlscale/locks/ds=2024-01-01/run.lock';
    const holder = { pid: process.pid, host: hostname(), run_id: 'other', since: '2024-01-01T00:00:00.000Z' };
    await client.put(s3.bucket, lock, JSON.stringify(holder));
    try {
      const r = await run(['score', '--job', job(src)]);
      expect(r.code).toBe(4);
      expect(errorLine(r)).toBe(
        `error: sink: partition s3://mlscale-test/out/ds=2024-01-01 is locked by run other (pid ${process.pid} on ${hostname()}, since 2024-01-01T00:00:00.000Z); wait for it to finish, or pass --wait.`,
      );
    } finally {
      await client.delete(s3.bucket, lock);
    }
  });

  it('fails a publish refused at its commit write (exit 1), leaving the previous publish and no stray file', async () => {
    s3.fault = (req) =>
      req.method === 'PUT' && req.url.endsWith('/_mlscale_run.json') ? { reply: 403, code: 'AccessDenied' } : undefined;
    const r = await run(['score', '--job', job(src), '--run-id', 'refused']);
    s3.fault = undefined;
    expect(r.code).toBe(1);
    expect(errorLine(r)).toContain('error: s3: access denied to s3://mlscale-test/out/ds=2024-01-01');
    const back = await readBack('out/ds=2024-01-01/');
    expect(back).toMatchObject({ n: 150, runId: 'third' });
    expect(back.parquet).toEqual(['part-third-00000.parquet', 'part-third-00001.parquet']);
    const runs = await run(['runs', '--dir', 's3://mlscale-test/out', '--json', '--status', 'failed']);
    expect((JSON.parse(runs.stdout) as { run_id: string }[]).map((x) => x.run_id)).toEqual(['refused']);
  });

  it('publishes shards into one partition, _SUCCESS once both are in; an unsharded run replaces them', async () => {
    const sharded = job(src, 's3://mlscale-test/sharded/ds={{ ds }}');
    expect((await run(['score', '--job', sharded, '--shard', '0/2', '--run-id', 'sh0'])).code).toBe(0);
    let back = await readBack('sharded/ds=2024-01-01/');
    expect(back.keys).not.toContain('_SUCCESS');
    expect(back.n).toBe(100);
    expect((await run(['score', '--job', sharded, '--shard', '1/2', '--run-id', 'sh1'])).code).toBe(0);
    back = await readBack('sharded/ds=2024-01-01/');
    expect(back.keys.sort()).toEqual([
      '_SUCCESS',
      '_mlscale_run-s0of2.json',
      '_mlscale_run-s1of2.json',
      'part-s0of2-sh0-00000.parquet',
      'part-s1of2-sh1-00000.parquet',
    ]);
    expect([back.n, back.ids]).toEqual([150, 150]);
    expect((await run(['score', '--job', sharded, '--run-id', 'whole'])).code).toBe(0);
    back = await readBack('sharded/ds=2024-01-01/');
    expect(back.keys.sort()).toEqual([
      '_SUCCESS',
      '_mlscale_run.json',
      'part-whole-00000.parquet',
      'part-whole-00001.parquet',
    ]);
    expect([back.n, back.ids, back.runId]).toEqual([150, 150, 'whole']);
  });

  it('checks an s3:// job with validate, and names each mistake in one sentence (exit 2)', async () => {
    const ok = await run(['validate', '--job', job(src)]);
    expect(errorLine(ok)).toBe('');
    expect(ok.code).toBe(0);
    const cases: [string, string, string][] = [
      [
        's3://mlscale-test/iris/ds=2024-01-01/*.parquet',
        's3://Bad_Bucket/out/ds={{ ds }}',
        'sink.parquet.path: "s3://Bad_Bucket/out/ds=2024-01-01" does not name an S3 bucket; write s3://BUCKET/KEY (bucket names are 3 to 63 lower-case letters, digits, dots and hyphens).',
      ],
      [
        's3://mlscale-test/iris/ds=2024-01-01/*.parquet',
        's3://mlscale-test/out/_ds={{ ds }}',
        'whose directory "_ds=2024-01-01" starts with "_"',
      ],
      [
        's3://no-such-bucket/iris/*.parquet',
        's3://mlscale-test/out/ds={{ ds }}',
        `s3: s3://no-such-bucket/iris/*.parquet: no such bucket at ${s3.endpoint}; fix the path or the endpoint.`,
      ],
    ];
    for (const [source, sink, message] of cases) {
      const r = await run(['validate', '--job', job(source, sink)]);
      expect(r.code, message).toBe(2);
      expect(errorLine(r)).toContain(message);
    }
    const rejects = await run([
      'validate',
      '--job',
      job(src, undefined, ' }\nrejects: { dir: "s3://mlscale-test/rej"'),
    ]);
    expect(rejects.code).toBe(2);
    expect(errorLine(rejects)).toContain('rejected rows are not yet written to object storage');
  });
});
