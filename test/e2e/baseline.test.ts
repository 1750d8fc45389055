import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Table, makeVector } from 'apache-arrow';
import { errorLine, mlscale } from '../support/cli.js';
import { writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';
import { databaseUrl, skipPg, tempSchema } from '../support/pg.js';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { logisticModel } from '../../scripts/lib/onnx-builder.mjs';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { writeFeatureFiles } from '../../scripts/lib/parquet-data.mjs';

// `baseline: previous` is the job's nearest earlier partition, not the previous run in time: a
// backfill compares with the day before it, and a shard never with another shard of its own day.
// A partition scored as N shards is one baseline: the N runs' statistics merged.

const s = scratchDir('baseline');
beforeAll(() => {
  writeFileSync(path.join(s.dir, 'model.onnx'), logisticModel({ weights: [1, -1, 0.5], bias: 0, inputName: 'x' }));
  writeFeatureFiles(path.join(s.dir, 'data'), { rows: 2000, features: 3, files: 1, rowGroupSize: 500 });
});
afterAll(() => s.remove());

const file = () =>
  s.file(
    'job.yaml',
    `name: base_daily
model:
  path: model.onnx
  features: [f0, f1, f2]
source:
  parquet: { path: data }
key: [id]
monitor: { baseline: previous, max_psi: 100, on_drift: warn }
sink:
  parquet: { path: "out/ds={{ ds }}" }
`,
  );

const baselineOf = (dir: string, file = '_mlscale_run.json'): string | undefined =>
  JSON.parse(readFileSync(path.join(s.dir, 'out', dir, file), 'utf8')).stats?.drift?.baseline_run_id;

describe('baseline: previous', () => {
  it('is the nearest earlier partition, whichever shard runs; a backfill of the oldest day has none', async () => {
    const score = async (ds: string, runId: string, ...extra: string[]) => {
      const r = await mlscale(['score', '--job', file(), '--param', `ds=${ds}`, '--run-id', runId, ...extra], {
        cwd: s.dir,
      });
      expect(errorLine(r), runId).toBe('');
      return r;
    };
    await score('2024-01-03', 'c');
    const backfill = await score('2024-01-01', 'a');
    expect(backfill.stderr).toContain('monitor: no earlier succeeded run of this job to compare with');
    expect(baselineOf('ds=2024-01-01')).toBeUndefined();
    await score('2024-01-02', 'b');
    expect(baselineOf('ds=2024-01-02')).toBe('a');
    expect(baselineOf('ds=2024-01-03')).toBeUndefined();
    await score('2024-01-03', 'c2');
    expect(baselineOf('ds=2024-01-03')).toBe('b');
    await score('2024-01-04', 'd0', '--shard', '0/2');
    await score('2024-01-04', 'd1', '--shard', '1/2');
    expect(baselineOf('ds=2024-01-04', '_mlscale_run-s1of2.json')).toBe('c2');
    expect(baselineOf('ds=2024-01-04', '_mlscale_run-s0of2.json')).toBe('c2');
  });
});

describe('baseline: previous of a partition scored as shards', () => {
  const m = scratchDir('baseline-merge');
  const env = { DATABASE_URL: databaseUrl };
  let schema: Awaited<ReturnType<typeof tempSchema>> | undefined;
  beforeAll(async () => {
    writeFileSync(path.join(m.dir, 'model.onnx'), logisticModel({ weights: [1, -1, 0.5], bias: 0, inputName: 'x' }));
    if (!skipPg) schema = await tempSchema('e2e_merge');
  });
  afterAll(async () => {
    m.remove();
    await schema?.drop();
  });

  /** Rows whose three features are uniform on [lo, lo + 1), one block per entry, in row groups of 1000. */
  function day(ds: string, seed: number, ...blocks: number[]) {
    let a = seed;
    const rand = () => (a = (a * 1103515245 + 12345) % 2147483648) / 2147483648;
    const n = blocks.length * 1000;
    const col = () => makeVector(Float32Array.from({ length: n }, (_, i) => blocks[Math.floor(i / 1000)]! + rand()));
    const table = new Table({
      id: makeVector(Int32Array.from({ length: n }, (_, i) => i)),
      f0: col(),
      f1: col(),
      f2: col(),
    });
    writeParquet(path.join(m.dir, 'in', `ds=${ds}`, 'p.parquet'), table, 1000);
  }

  const sinks = [
    { kind: 'parquet', yaml: () => 'parquet: { path: "out/ds={{ ds }}" }' },
    { kind: 'postgres', yaml: () => `postgres: { url: "\${DATABASE_URL}", table: ${schema!.name}.merged_scores }` },
  ] as const;

  it.each(sinks)(
    'merges both shards: a run like their union shows no drift, a run like one shard does ($kind)',
    async ({ kind, yaml }) => {
      if (kind === 'postgres' && skipPg) return;
      const job = m.file(
        `${kind}.yaml`,
        `name: merged_${kind}
model:
  path: model.onnx
  features: [f0, f1, f2]
source:
  parquet: { path: "in/ds={{ ds }}" }
key: [id]
monitor: { baseline: previous, max_psi: 0.5, on_drift: warn }
sink:
  ${yaml()}
`,
      );
      const score = async (ds: string, runId: string, ...extra: string[]) => {
        const r = await mlscale(['score', '--job', job, '--param', `ds=${ds}`, '--run-id', runId, ...extra], {
          cwd: m.dir,
          env,
        });
        expect(errorLine(r), runId).toBe('');
        return r;
      };
      const drift = async (runId: string) => {
        const r = await mlscale(['runs', '--job', job, '--json', '--limit', '100'], { cwd: m.dir, env });
        expect(errorLine(r)).toBe('');
        const run = (JSON.parse(r.stdout) as { run_id: string; stats: { drift?: Drift } }[]).find(
          (x) => x.run_id === runId,
        );
        return run!.stats.drift!;
      };
      type Drift = {
        baseline_run_id: string;
        psi: { predictions: Record<string, number>; features: Record<string, number> };
      };
      const worst = (d: Drift) => Math.max(...Object.values(d.psi.features));

      // 2024-01-01 as two shards that see different data: row group 0 (features on [0, 1)) is
      // shard 0's, row group 1 (features on [1, 2)) shard 1's.
      day('2024-01-01', 1, 0, 1);
      await score('2024-01-01', `${kind}-s0`, '--shard', '0/2');
      await score('2024-01-01', `${kind}-s1`, '--shard', '1/2');

      // The next day, unsharded, drawn like both shards together.
      day('2024-01-02', 2, 0, 1);
      const union = await score('2024-01-02', `${kind}-union`);
      const u = await drift(`${kind}-union`);
      expect(u.baseline_run_id).toBe(`${kind}-s0+${kind}-s1`);
      expect(worst(u)).toBeLessThan(0.1);
      expect(Math.max(...Object.values(u.psi.predictions))).toBeLessThan(0.1);
      expect(union.stderr).not.toContain('drift: PSI over');

      // The same day re-scored, drawn like shard 0 alone: far from the partition as a whole.
      day('2024-01-02', 3, 0, 0);
      const one = await score('2024-01-02', `${kind}-one`);
      const o = await drift(`${kind}-one`);
      expect(o.baseline_run_id).toBe(`${kind}-s0+${kind}-s1`);
      expect(worst(o)).toBeGreaterThan(1);
      expect(Object.keys(o.psi.features).sort()).toEqual(['f0', 'f1', 'f2']);
      expect(one.stderr).toContain(
        `drift: PSI over max_psi 0.5 against runs ${kind}-s0+${kind}-s1 (2 shards of partition 2024-01-01) for`,
      );

      // The report rebuilds the same merged baseline from the drift check's run ids.
      const report = await mlscale(['report', `${kind}-one`, '--job', job, '--out', `${kind}.html`], {
        cwd: m.dir,
        env,
      });
      expect(errorLine(report)).toBe('');
      expect(readFileSync(path.join(m.dir, `${kind}.html`), 'utf8')).toContain(
        `<td>baseline</td><td>${kind}-s0+${kind}-s1 (partition 2024-01-01, shards 0/2+1/2 merged)</td>`,
      );
    },
  );
});
