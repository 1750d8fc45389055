import { existsSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, mlscale, startMlscale } from '../support/cli.js';
import { readParquetTable } from '../support/data.js';
import { scratchDir } from '../support/job.js';
import { waitFor } from '../support/wait.js';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { logisticModel } from '../../scripts/lib/onnx-builder.mjs';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { writeFeatureFiles } from '../../scripts/lib/parquet-data.mjs';

// What a Parquet partition refuses to share: a run of another shard count that is still going,
// another job's output; and part files that hold at most rows_per_file rows.

const s = scratchDir('pqguards');
const ROWS = 3000;
const job = (name: string, sinkPath: string, extra = '') =>
  s.file(
    `${name}.yaml`,
    `name: ${name}
params: { ds: "2024-01-01" }
model:
  path: model.onnx
  features: [f0, f1, f2]
source:
  parquet: { path: data }
key: [id]
batch_size: 700
parallelism: 1
sink:
  parquet: { path: "${sinkPath}", rows_per_file: 1000 }
${extra}`,
  );

beforeAll(() => {
  writeFileSync(path.join(s.dir, 'model.onnx'), logisticModel({ weights: [1.5, -2, 0.5], bias: 0.1, inputName: 'x' }));
  // Two files of two row groups each: two shards get a row group of each file.
  writeFeatureFiles(path.join(s.dir, 'data'), { rows: ROWS, features: 3, files: 2, rowGroupSize: 750 });
});
afterAll(() => s.remove());

/** Rows per run id in the published partition `dir`, and the run files it holds. */
function partition(dir: string): { rows: Record<string, number>; runFiles: string[] } {
  const rows: Record<string, number> = {};
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.parquet'))) {
    const t = readParquetTable(path.join(dir, f));
    for (const id of t.getChild('run_id')!) rows[id as string] = (rows[id as string] ?? 0) + 1;
  }
  return { rows, runFiles: readdirSync(dir).filter((n) => n.startsWith('_mlscale_run')) };
}

describe('runs of one partition under different shard counts never overlap', () => {
  const out = path.join(s.dir, 'counts');
  const target = path.join(out, 'ds=2024-01-01');
  const file = () => job('counts', 'counts/ds={{ ds }}');
  const score = (...args: string[]) => mlscale(['score', '--job', file(), ...args], { cwd: s.dir });
  /** A lock of another shard count held by this test process: alive, on this host. */
  const hold = (name: string, runId: string, stale = false) => {
    const lock = path.join(out, name);
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), run_id: runId, since: 'then' }) + '\n');
    if (stale) utimesSync(lock, new Date(Date.now() - 600_000), new Date(Date.now() - 600_000));
    return lock;
  };

  it('a run exits 4 while a live run of another count holds its lock, and changes nothing', async () => {
    const base = await score('--run-id', 'base');
    expect(errorLine(base)).toBe('');
    expect(partition(target).rows).toEqual({ base: ROWS });

    const lock = hold('.ds=2024-01-01.s0of2.lock', 'other');
    const unsharded = await score('--run-id', 'u-blocked');
    expect(unsharded.code).toBe(4);
    expect(errorLine(unsharded)).toBe(
      `error: sink: partition ${target} is held by run other (pid ${process.pid} on ${hostname()}, since then), scoring it as shard 0/2; runs of one partition under different shard counts replace each other's files, so they cannot overlap: wait for it to finish, or pass --wait.`,
    );
    // So is a run of a third count; the run of the same count (another shard) goes on.
    const three = await score('--run-id', 't-blocked', '--shard', '2/3');
    expect(three.code).toBe(4);
    expect(errorLine(three)).toContain(`error: sink: partition ${target} (shard 2/3) is held by run other`);
    expect(partition(target).rows).toEqual({ base: ROWS });
    // Neither left a lock, staging directory or set-aside copy behind: only the held lock.
    expect(readdirSync(out).filter((f) => f.startsWith('.'))).toEqual(['.ds=2024-01-01.s0of2.lock']);

    // With --wait SECONDS it waits, then gives up with exit 4.
    const timed = await score('--run-id', 'u-timed', '--wait', '1');
    expect(timed.code).toBe(4);
    expect(errorLine(timed)).toMatch(
      /, scoring it as shard 0\/2 after waiting 1 s; runs of one partition under different shard counts replace each other's files, so they cannot overlap: wait for it to finish, or pass --wait with a longer timeout\.$/,
    );

    // With --wait a signal ends the wait: 143, nothing published.
    const waiting = startMlscale(['score', '--job', file(), '--run-id', 'u-signal', '--wait'], { cwd: s.dir });
    await waitFor('the run to report its wait', () => (/waiting \(--wait\)/.test(waiting.log()) ? true : undefined));
    waiting.child.kill('SIGTERM');
    expect((await waiting.done).code).toBe(143);
    expect(partition(target).rows).toEqual({ base: ROWS });

    // ...and once the other run ends, the waiting run goes on and publishes.
    const waited = startMlscale(['score', '--job', file(), '--run-id', 'u-waited', '--wait'], { cwd: s.dir });
    await waitFor('the run to report its wait', () => (/waiting \(--wait\)/.test(waited.log()) ? true : undefined));
    rmSync(lock);
    const done = await waited.done;
    expect(errorLine(done)).toBe('');
    expect(done.code).toBe(0);
    expect(partition(target).rows).toEqual({ 'u-waited': ROWS });
  }, 120_000);

  it('a shard exits 4 while a live unsharded run holds the partition; a dead one does not count', async () => {
    const lock = hold('.ds=2024-01-01.lock', 'whole');
    const shard = await score('--run-id', 's0-blocked', '--shard', '0/2');
    expect(shard.code).toBe(4);
    expect(errorLine(shard)).toBe(
      `error: sink: partition ${target} (shard 0/2) is held by run whole (pid ${process.pid} on ${hostname()}, since then), scoring it unsharded; runs of one partition under different shard counts replace each other's files, so they cannot overlap: wait for it to finish, or pass --wait.`,
    );
    expect(partition(target).rows).toEqual({ 'u-waited': ROWS });
    // A lock whose heartbeat stopped long ago is no run: the shards go on, side by side.
    hold('.ds=2024-01-01.lock', 'whole', true);
    const [s0, s1] = await Promise.all([
      score('--run-id', 's0', '--shard', '0/2'),
      score('--run-id', 's1', '--shard', '1/2'),
    ]);
    expect([errorLine(s0), errorLine(s1)]).toEqual(['', '']);
    const { rows, runFiles } = partition(target);
    expect(rows.s0! + rows.s1!).toBe(ROWS);
    expect(Object.keys(rows).sort()).toEqual(['s0', 's1']);
    expect(runFiles.sort()).toEqual(['_mlscale_run-s0of2.json', '_mlscale_run-s1of2.json']);
    expect(existsSync(path.join(target, '_SUCCESS'))).toBe(true);
    rmSync(lock);
  });
});

describe('two jobs cannot share a Parquet path', () => {
  it('refuses (exit 2, before scoring) a partition that holds another job’s output', async () => {
    const target = path.join(s.dir, 'shared', 'ds=2024-01-01');
    const a = await mlscale(['score', '--job', job('job_a', 'shared/ds={{ ds }}'), '--run-id', 'a1'], {
      cwd: s.dir,
    });
    expect(errorLine(a)).toBe('');
    const message = `error: sink: partition ${target} holds job job_a's output; two jobs cannot share a Parquet path: give job job_b its own sink.parquet.path.`;
    for (const command of ['score', 'validate']) {
      const b = await mlscale([command, '--job', job('job_b', 'shared/ds={{ ds }}')], { cwd: s.dir });
      expect(b.code, command).toBe(2);
      expect(errorLine(b)).toBe(message);
    }
    // Under a shard too; job A's partition and ledger are as they were.
    const shard = await mlscale(['score', '--job', job('job_b', 'shared/ds={{ ds }}'), '--shard', '1/2'], {
      cwd: s.dir,
    });
    expect(shard.code).toBe(2);
    expect(errorLine(shard)).toBe(message);
    expect(partition(target).rows).toEqual({ a1: ROWS });
    expect(JSON.parse(readFileSync(path.join(target, '_mlscale_run.json'), 'utf8'))).toMatchObject({
      job: 'job_a',
      run_id: 'a1',
    });
    // Job A itself re-runs as before, and job B's other partitions (its own path) are fine.
    expect((await mlscale(['score', '--job', job('job_a', 'shared/ds={{ ds }}')], { cwd: s.dir })).code).toBe(0);
    expect((await mlscale(['score', '--job', job('job_b', 'shared_b/ds={{ ds }}')], { cwd: s.dir })).code).toBe(0);
  }, 120_000);
});

describe('rows_per_file', () => {
  it('is the most rows a part file holds, whatever the chunk size', async () => {
    const target = path.join(s.dir, 'sized', 'ds=2024-01-01');
    const r = await mlscale(['score', '--job', job('sized', 'sized/ds={{ ds }}')], { cwd: s.dir });
    expect(errorLine(r)).toBe('');
    const parts = readdirSync(target)
      .filter((f) => f.endsWith('.parquet'))
      .sort();
    const tables = parts.map((p) => readParquetTable(path.join(target, p)));
    // Chunks of 700 rows, files of 1000: every file full but the last, rows in input order.
    expect(tables.map((t) => t.numRows)).toEqual([1000, 1000, 1000]);
    expect(tables.flatMap((t) => Array.from(t.getChild('id')!, Number))).toEqual(
      Array.from({ length: ROWS }, (_, i) => i),
    );
  });
});
