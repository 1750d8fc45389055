import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RUN_FILE,
  createRunRecord,
  findRuns,
  readRunFile,
  readRunRecord,
  replaceRunRecord,
  writeRunFile,
} from '../../src/ledger/file-ledger.js';
import {
  byStartedDesc,
  matches,
  normalizeCheckpoint,
  normalizeRun,
  shardText,
  type RunRecord,
} from '../../src/ledger/record.js';
import type { RunStats } from '../../src/stats/types.js';

const stats: RunStats = {
  predictions: {
    score: {
      count: 3,
      mean: 0.5,
      std: 0.1,
      min: 0.4,
      max: 0.6,
      quantiles: { p50: 0.5 },
      histogram: { edges: [0.4, 0.6], counts: [3] },
    },
  },
  features: { x: { null_rate: 0, mean: 1, std: 0, histogram: { edges: [], counts: [] } } },
};

/** A mlscale_runs row as node-postgres returns it: bigint as strings, timestamptz as Dates, jsonb as objects. */
const pgRow = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  run_id: '20240102T030405Z-ab12cd',
  job: 'churn',
  partition: '2024-01-01',
  shard: '1/4',
  params: { ds: '2024-01-01', region: 'eu' },
  model_name: 'churn',
  model_version: 'v3',
  model_sha256: 'ab'.repeat(32),
  status: 'succeeded',
  started_at: new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678)),
  finished_at: new Date(Date.UTC(2024, 0, 2, 3, 9, 0)),
  rows_read: '1000',
  rows_scored: '990',
  rows_rejected: '10',
  rows_written: '990',
  error: null,
  stats,
  ...over,
});

const expectedFromPg: RunRecord = {
  run_id: '20240102T030405Z-ab12cd',
  job: 'churn',
  partition: '2024-01-01',
  shard: '1/4',
  params: { ds: '2024-01-01', region: 'eu' },
  model_name: 'churn',
  model_version: 'v3',
  model_sha256: 'ab'.repeat(32),
  status: 'succeeded',
  started_at: '2024-01-02T03:04:05.678Z',
  finished_at: '2024-01-02T03:09:00.000Z',
  rows_read: 1000,
  rows_scored: 990,
  rows_rejected: 10,
  rows_written: 990,
  error: null,
  stats,
};

describe('normalizeRun', () => {
  it('reads a pg row: bigint strings to numbers, Dates to ISO UTC, jsonb objects as they are', () => {
    expect(normalizeRun(pgRow())).toEqual(expectedFromPg);
  });

  it('reads a run file row: ISO strings with any offset, numbers, JSON given as text', () => {
    const r = normalizeRun({
      ...pgRow(),
      started_at: '2024-01-02T05:04:05.678+02:00',
      finished_at: '2024-01-02T03:09:00Z',
      rows_read: 1000,
      rows_scored: 990,
      rows_rejected: 10,
      rows_written: 990,
      params: '{"ds":"2024-01-01","region":"eu"}',
      stats: JSON.stringify(stats),
    });
    expect(r).toEqual(expectedFromPg);
  });

  it('fills defaults: shard 0/1, empty params, zero counts, null finish, error and stats', () => {
    const r = normalizeRun({
      ...pgRow({ status: 'running' }),
      shard: undefined,
      params: null,
      finished_at: null,
      rows_read: null,
      rows_scored: undefined,
      rows_rejected: '0',
      rows_written: undefined,
      stats: undefined,
    });
    expect(r).toMatchObject({
      status: 'running',
      shard: '0/1',
      params: {},
      finished_at: null,
      rows_read: 0,
      rows_scored: 0,
      rows_rejected: 0,
      rows_written: 0,
      error: null,
      stats: null,
    });
    expect(normalizeRun(pgRow({ shard: null })).shard).toBe('0/1');
  });

  it('keeps a failed run’s error as text', () => {
    const r = normalizeRun(
      pgRow({ status: 'failed', error: 'source: cannot connect', finished_at: '2024-01-02T03:05:00Z' }),
    );
    expect([r.status, r.error, r.finished_at]).toEqual([
      'failed',
      'source: cannot connect',
      '2024-01-02T03:05:00.000Z',
    ]);
    expect(normalizeRun(pgRow({ error: 42 })).error).toBe('42');
  });

  it('reads counts past 2^31 exactly (up to 2^53)', () => {
    expect(normalizeRun(pgRow({ rows_read: '4294967296' })).rows_read).toBe(2 ** 32);
    expect(normalizeRun(pgRow({ rows_read: '9007199254740991' })).rows_read).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('refuses a status it does not know, naming the run', () => {
    expect(() => normalizeRun(pgRow({ status: 'done' }))).toThrow(
      new Error('ledger: run 20240102T030405Z-ab12cd has status "done"'),
    );
    expect(() => normalizeRun(pgRow({ status: 'SUCCEEDED' }))).toThrow(
      'ledger: run 20240102T030405Z-ab12cd has status "SUCCEEDED"',
    );
    expect(() => normalizeRun({ ...pgRow(), status: undefined })).toThrow(
      'ledger: run 20240102T030405Z-ab12cd has status "undefined"',
    );
  });

  it('refuses a start or finish that is not a time', () => {
    expect(() => normalizeRun(pgRow({ started_at: 'yesterday' }))).toThrow(
      new Error('ledger: "yesterday" is not a time'),
    );
    expect(() => normalizeRun({ ...pgRow(), started_at: undefined })).toThrow('ledger: "undefined" is not a time');
    expect(() => normalizeRun(pgRow({ finished_at: new Date(NaN) }))).toThrow('ledger: "Invalid Date" is not a time');
  });

  it('is idempotent: a normalized record normalizes to itself', () => {
    const once = normalizeRun(pgRow());
    expect(normalizeRun({ ...once })).toEqual(once);
  });
});

describe('matches, byStartedDesc and shardText', () => {
  const run = normalizeRun(pgRow());

  it('keeps a run that passes every filter given', () => {
    expect(matches(run, { limit: 10 })).toBe(true);
    expect(matches(run, { limit: 10, runId: run.run_id, job: 'churn', status: 'succeeded' })).toBe(true);
    expect(matches(run, { limit: 10, runId: 'other' })).toBe(false);
    expect(matches(run, { limit: 10, job: 'other' })).toBe(false);
    expect(matches(run, { limit: 10, status: 'failed' })).toBe(false);
    expect(matches(run, { limit: 10, job: 'churn', status: 'failed' })).toBe(false);
  });

  it('compares since with the start time, inclusively', () => {
    const started = Date.UTC(2024, 0, 2, 3, 4, 5, 678);
    expect(matches(run, { limit: 1, since: new Date(started) })).toBe(true);
    expect(matches(run, { limit: 1, since: new Date(started - 1) })).toBe(true);
    expect(matches(run, { limit: 1, since: new Date(started + 1) })).toBe(false);
  });

  it('sorts newest first', () => {
    const at = (iso: string, id: string) => normalizeRun(pgRow({ started_at: iso, run_id: id }));
    const runs = [
      at('2024-01-02T00:00:00Z', 'b'),
      at('2023-12-31T23:59:59.999Z', 'a'),
      at('2024-01-10T00:00:00Z', 'd'),
      at('2024-01-02T00:00:00.001Z', 'c'),
    ];
    expect(runs.sort(byStartedDesc).map((r) => r.run_id)).toEqual(['d', 'c', 'b', 'a']);
  });

  it('writes a shard as I/N', () => {
    expect(shardText({ index: 0, count: 1 })).toBe('0/1');
    expect(shardText({ index: 3, count: 16 })).toBe('3/16');
  });
});

describe('file ledger: findRuns', () => {
  let root: string;
  const record = (id: string, started = '2024-01-02T00:00:00.000Z'): RunRecord => ({
    ...expectedFromPg,
    run_id: id,
    started_at: started,
  });
  async function put(rel: string, run: RunRecord | string): Promise<void> {
    const dir = path.join(root, rel);
    await mkdir(dir, { recursive: true });
    if (typeof run === 'string') await writeFile(path.join(dir, RUN_FILE), run);
    else await writeRunFile(dir, run);
  }

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'mlscale-ledger-'));
    await put('.', record('root'));
    await put('ds=2024-01-01', record('l1-a'));
    await put('ds=2024-01-02', record('l1-b'));
    await put('ds=2024-01-02/shard=0', record('l2-a'));
    await put('ds=2024-01-02/shard=1', record('l2-b'));
    await put('ds=2024-01-02/shard=1/deeper/still', record('l4'));
    // Not published: staging and set-aside copies (hidden), at any level.
    await put('.staging-1234', record('hidden-1'));
    await put('ds=2024-01-02/.old-5678', record('hidden-2'));
    await put('.staging-1234/ds=2024-01-03', record('hidden-3'));
    // Not run records: skipped, not fatal.
    await put('broken', '{ not json');
    await put('wrong-status', JSON.stringify({ ...record('x'), status: 'done' }));
    await put('empty-dir-parent/empty', '{}');
    // A file named like a directory level is not walked into.
    await writeFile(path.join(root, 'ds=2024-01-09'), 'not a directory');
  });
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  const ids = async (depth?: number) =>
    (depth === undefined ? await findRuns(root) : await findRuns(root, depth)).map((r) => r.run_id).sort();

  it('finds every published run record, the root included, skipping hidden directories', async () => {
    expect(await ids()).toEqual(['l1-a', 'l1-b', 'l2-a', 'l2-b', 'l4', 'root']);
  });

  it('stops at the depth limit', async () => {
    expect(await ids(0)).toEqual(['root']);
    expect(await ids(1)).toEqual(['l1-a', 'l1-b', 'root']);
    expect(await ids(2)).toEqual(['l1-a', 'l1-b', 'l2-a', 'l2-b', 'root']);
    expect(await ids(3)).toEqual(['l1-a', 'l1-b', 'l2-a', 'l2-b', 'root']);
    expect(await ids(4)).toEqual(['l1-a', 'l1-b', 'l2-a', 'l2-b', 'l4', 'root']);
  });

  it('returns records as normalizeRun reads them', async () => {
    const runs = await findRuns(root, 0);
    expect(runs).toEqual([record('root')]);
  });

  it('finds nothing under a directory that does not exist', async () => {
    expect(await findRuns(path.join(root, 'missing'))).toEqual([]);
  });

  it('reads and writes one run file', async () => {
    // A directory of its own, so the walks above and below do not see it.
    const dir = await mkdtemp(path.join(tmpdir(), 'mlscale-ledger-one-'));
    expect(await readRunFile(dir)).toBeUndefined();
    await writeRunFile(dir, record('single', '2024-02-03T04:05:06.007Z'));
    expect(await readRunFile(dir)).toEqual(record('single', '2024-02-03T04:05:06.007Z'));
    expect(await readRunFile(path.join(root, 'broken'))).toBeUndefined();
    expect(await readRunFile(path.join(root, 'wrong-status'))).toBeUndefined();
    await rm(dir, { recursive: true, force: true });
  });
});

describe('normalizeCheckpoint', () => {
  const checkpoint = {
    runId: 'r1',
    chunks: 3,
    batchSize: 1000,
    counters: { rowsRead: 3000, rowsScored: 2990, rowsRejected: 10, rowsFilled: 0, rowsWritten: 2990 },
  };
  it('takes jsonb objects and JSON text alike, keeping a fingerprint when there is one', () => {
    expect(normalizeCheckpoint(checkpoint)).toEqual(checkpoint);
    const fingerprint = { model: 'a', params: 'b', job: 'c', source: 'd' };
    expect(normalizeCheckpoint(JSON.stringify({ ...checkpoint, fingerprint }))).toEqual({ ...checkpoint, fingerprint });
  });
  it('refuses a checkpoint without its counts instead of resuming from nothing', () => {
    expect(() => normalizeCheckpoint({ ...checkpoint, chunks: '3' })).toThrow('ledger: checkpoint has no chunk count');
    expect(() => normalizeCheckpoint({ ...checkpoint, counters: {} })).toThrow('ledger: checkpoint has no rowsRead');
    expect(() => normalizeCheckpoint(null)).toThrow('ledger: checkpoint has no chunk count');
  });
});

describe('file ledger: the root’s run records', () => {
  let root: string;
  const run = (id: string, status: RunRecord['status'], started = '2024-01-02T00:00:00.000Z'): RunRecord => ({
    ...expectedFromPg,
    run_id: id,
    status,
    started_at: started,
  });
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'mlscale-ledger-dir-'));
  });
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('records a run once per id, replaces it whole, and finds failed and running runs beside published ones', async () => {
    expect(await createRunRecord(root, run('live', 'running'))).toBe(true);
    expect(await createRunRecord(root, run('live', 'running'))).toBe(false);
    expect(await createRunRecord(root, run('failed', 'running'))).toBe(true);
    await replaceRunRecord(root, { ...run('failed', 'failed'), error: 'boom' });
    expect(await readRunRecord(root, 'failed')).toEqual({ ...run('failed', 'failed'), error: 'boom' });
    // A run whose ledger record still says running but whose files went live is shown as its partition shows it.
    await mkdir(path.join(root, 'ds=2024-01-01'));
    await writeFile(
      path.join(root, 'ds=2024-01-01', '_mlscale_run-s1of2.json'),
      JSON.stringify(run('live', 'succeeded')),
    );
    const runs = await findRuns(root);
    expect(runs.map((r) => [r.run_id, r.status]).sort()).toEqual([
      ['failed', 'failed'],
      ['live', 'succeeded'],
    ]);
    // Temporaries and other files in the ledger directory are not records.
    await writeFile(path.join(root, '_mlscale', 'runs', '.x.json.1.ab.tmp'), JSON.stringify(run('tmp', 'running')));
    expect((await findRuns(root)).map((r) => r.run_id).sort()).toEqual(['failed', 'live']);
  });
});
