import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { S3Client } from '../../src/s3/client.js';
import { errorLine, mlscale, startMlscale } from '../support/cli.js';
import { csvTable, writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';
import { datasetFixture } from '../support/paths.js';
import { download, startS3, testClient, type TestS3, irisJob } from '../support/s3.js';

// A publish to an object store killed at each of its steps: the proxy in front of the store
// SIGKILLs mlscale at the n-th request of the publish (counted from the first completed upload):
// before the first reaches the store, and once the store applied each one that writes. After every
// kill the manifest names a whole publish (the previous run's or the killed run's) that DuckDB
// reads in full, and a clean run afterwards leaves exactly its own files.
const s = scratchDir('s3-kill');
let s3: TestS3;
let client: S3Client;
let db: DuckDBConnection;
const PREFIX = 'out/ds=2024-01-01/';

const jobFile = () =>
  s.file(
    'job.yaml',
    irisJob({
      name: 'iris_s3_kill',
      source: 's3://mlscale-test/iris/part-0.parquet',
      sink: 's3://mlscale-test/out/ds={{ ds }}',
      sinkOptions: 'rows_per_file: 100',
    }),
  );

beforeAll(async () => {
  s3 = await startS3();
  client = await testClient(s3);
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
  db = await (await DuckDBInstance.create(':memory:')).connect();
});
afterAll(async () => {
  db?.closeSync();
  await s3?.stop();
  s.remove();
});

/** What the manifest publishes, read by DuckDB from exactly its files; and what a plain listing shows. */
async function published() {
  const dir = path.join(s.dir, `read-${Math.random().toString(36).slice(2)}`);
  const keys = await download(client, s3.bucket, PREFIX, dir);
  const manifest = JSON.parse(readFileSync(path.join(dir, '_mlscale_run.json'), 'utf8')) as {
    run_id: string;
    files: string[];
  };
  const list = manifest.files.map((f) => `'${path.join(dir, f)}'`).join(', ');
  const reader = await db.runAndReadAll(
    `SELECT count(*)::INT, count(DISTINCT row_id)::INT, count(DISTINCT run_id)::INT, min(run_id) FROM read_parquet([${list}])`,
  );
  const [rows, ids, runs, runId] = reader.getRows()[0] as [number, number, number, string];
  return { manifest, rows, ids, runs, runId, listed: keys.filter((k) => k.endsWith('.parquet')) };
}

/** Where to kill: before the n-th request of the publish reaches the store, or once it applied it. */
interface KillPoint {
  readonly step: number;
  readonly when: 'before' | 'after';
}

/**
 * Runs the job, SIGKILLed at `at` (undefined: not killed); returns how it ended and the methods
 * of its publish's requests, in order (counted from the first completed upload).
 */
async function runKilledAt(
  runId: string,
  at: KillPoint | undefined,
): Promise<{ signal: string | null; methods: string[] }> {
  s3.reset();
  const r = startMlscale(['score', '--job', jobFile(), '--run-id', runId], { cwd: s.dir, env: s3.env });
  const methods: string[] = [];
  s3.fault = (req) => {
    if (methods.length === 0 && !(req.method === 'POST' && req.url.includes('uploadId='))) return undefined;
    // The lock's heartbeat (every 5 s, a PUT with If-Match) is not a step of the publish: a slow
    // machine whose run outlasts it would shift every kill point after it.
    if (req.method === 'PUT' && req.ifMatch !== undefined) return undefined;
    methods.push(req.method);
    if (methods.length !== at?.step) return undefined;
    const kill = () => r.child.kill('SIGKILL');
    if (at.when === 'before') {
      kill();
      return { reply: 503, code: 'SlowDown' };
    }
    return { after: kill };
  };
  const done = await r.done;
  s3.fault = undefined;
  if (at === undefined) expect(errorLine(done)).toBe('');
  return { signal: done.signal, methods };
}

describe('a publish to an object store killed at each step', () => {
  it('leaves a whole publish readable after every kill, and a clean run replaces it', async () => {
    const first = await runKilledAt('base', undefined);
    expect(first.signal).toBeNull();
    // The same publish again, counted: complete, complete, run file, list, read run file, delete,
    // delete, _SUCCESS, ledger record, lock (read, read, delete).
    const { methods } = await runKilledAt('counted', undefined);
    expect(methods).toEqual([
      'POST',
      'POST',
      'PUT',
      'GET',
      'GET',
      'DELETE',
      'DELETE',
      'PUT',
      'PUT',
      'HEAD',
      'GET',
      'DELETE',
    ]);
    // Every state the store passes through: before the first request, and after each that changes
    // something (a kill after a read leaves the state the write before it left).
    const points: KillPoint[] = [
      { step: 1, when: 'before' },
      ...methods.flatMap((m, i) => (m === 'GET' || m === 'HEAD' ? [] : [{ step: i + 1, when: 'after' as const }])),
    ];
    let previous = 'counted';
    const seen: string[] = [];
    for (const at of points) {
      const runId = `killed-${at.when}-${at.step}`;
      const { signal } = await runKilledAt(runId, at);
      expect(signal, runId).toBe('SIGKILL');
      const p = await published();
      // The manifest names one whole run: the one before, or this one once its run file was written.
      expect([previous, runId], runId).toContain(p.manifest.run_id);
      expect({ rows: p.rows, ids: p.ids, runs: p.runs, runId: p.runId }, runId).toEqual({
        rows: 150,
        ids: 150,
        runs: 1,
        runId: p.manifest.run_id,
      });
      seen.push(`${at.when} ${at.step}: ${p.manifest.run_id === runId ? 'new' : 'old'}, ${p.listed.length} listed`);
      previous = p.manifest.run_id;
    }
    // What the manifest names, and how many .parquet files a plain listing shows, at each point:
    // the completed uploads appear beside the old files (1, 2), the run file is the commit (3),
    // the deletes (6, 7) remove the old files, then _SUCCESS, the ledger record, the lock.
    expect(seen).toEqual([
      'before 1: old, 2 listed',
      'after 1: old, 3 listed',
      'after 2: old, 4 listed',
      'after 3: new, 4 listed',
      'after 6: new, 3 listed',
      'after 7: new, 2 listed',
      'after 8: new, 2 listed',
      'after 9: new, 2 listed',
      'after 12: new, 2 listed',
    ]);

    const clean = await mlscale(['score', '--job', jobFile(), '--run-id', 'clean'], { cwd: s.dir, env: s3.env });
    expect(errorLine(clean)).toBe('');
    const after = await published();
    expect(after.manifest.run_id).toBe('clean');
    expect(after.listed).toEqual(['part-clean-00000.parquet', 'part-clean-00001.parquet']);
    expect(after.rows).toBe(150);
    const runs = await mlscale(['runs', '--dir', 's3://mlscale-test/out', '--json', '--limit', '100'], {
      cwd: s.dir,
      env: s3.env,
    });
    const statuses = (JSON.parse(runs.stdout) as { status: string }[]).map((r) => r.status);
    expect(statuses).not.toContain('running');
    expect(statuses.filter((x) => x === 'succeeded').length).toBeGreaterThanOrEqual(2);
  });
});
