import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, startMlscale } from '../support/cli.js';
import { csvTable, writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';
import { datasetFixture } from '../support/paths.js';
import { startS3, testClient, type TestS3, irisJob } from '../support/s3.js';

// Two runs of one partition racing for its lock on a store that honours If-None-Match (the test
// proxy makes s3rver honour it). The proxy orders them, no timing: the first run's conditional
// PUT of the lock is held until the second run's arrives, so both read "no lock" before either
// writes; the store then refuses the second write (412), and the second run exits 4.
const s = scratchDir('s3-lock');
let s3: TestS3;

beforeAll(async () => {
  s3 = await startS3();
  s3.conditional = true;
  const client = await testClient(s3);
  const iris = csvTable(
    datasetFixture('iris.csv'),
    { Sepal_Length: 'float', Sepal_Width: 'float', Petal_Length: 'float', Petal_Width: 'float' },
    { rowId: 'row_id' },
  );
  await client.put(
    s3.bucket,
    'iris/part-0.parquet',
    readFileSync(writeParquet(path.join(s.dir, 'iris.parquet'), iris)),
  );
});
afterAll(async () => {
  await s3?.stop();
  s.remove();
});

const job = () =>
  s.file(
    'job.yaml',
    irisJob({
      name: 'iris_s3_lock',
      source: 's3://mlscale-test/iris/part-0.parquet',
      sink: 's3://mlscale-test/out/ds={{ ds }}',
    }),
  );

describe('a partition lock by conditional write', () => {
  it('lets one of two racing runs publish and refuses the other (exit 4), with no fallback warning', async () => {
    let releaseFirst!: () => void;
    const first = new Promise<void>((r) => (releaseFirst = r));
    let firstDone!: () => void;
    const firstWritten = new Promise<void>((r) => (firstDone = r));
    let lockPuts = 0;
    s3.fault = (req) => {
      if (!(req.method === 'PUT' && req.ifNoneMatch === '*' && req.url.endsWith('/run.lock'))) return undefined;
      lockPuts++;
      if (lockPuts === 1) return { hold: first, done: firstDone };
      // The second run's write arrives: let the first go, and this one after it landed.
      if (lockPuts === 2) {
        releaseFirst();
        return { hold: firstWritten };
      }
      return undefined;
    };
    const file = job();
    const a = startMlscale(['score', '--job', file, '--run-id', 'racer-a'], { cwd: s.dir, env: s3.env });
    const b = startMlscale(['score', '--job', file, '--run-id', 'racer-b'], { cwd: s.dir, env: s3.env });
    const [ra, rb] = await Promise.all([a.done, b.done]);
    s3.fault = undefined;
    const codes = [ra.code, rb.code].sort();
    expect(codes).toEqual([0, 4]);
    const loser = ra.code === 4 ? ra : rb;
    const winner = ra.code === 4 ? 'racer-b' : 'racer-a';
    expect(errorLine(loser)).toMatch(
      new RegExp(
        `^error: sink: partition s3://mlscale-test/out/ds=2024-01-01 is locked by run ${winner} \\(pid \\d+ on .+\\); wait for it to finish, or pass --wait\\.$`,
      ),
    );
    // The store refused the second write, and the winner's probe found the store honours the condition.
    const statuses = s3.requests
      .filter((r) => r.method === 'PUT' && r.ifNoneMatch === '*' && r.url.endsWith('/run.lock'))
      .map((r) => r.status);
    expect(statuses.filter((x) => x === 412).length).toBe(2);
    expect(ra.stderr + rb.stderr).not.toContain('ignores conditional writes');
  });
});
