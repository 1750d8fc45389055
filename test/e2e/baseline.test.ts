import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, mlscale } from '../support/cli.js';
import { scratchDir } from '../support/job.js';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { logisticModel } from '../../scripts/lib/onnx-builder.mjs';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { writeFeatureFiles } from '../../scripts/lib/parquet-data.mjs';

// `baseline: previous` is the job's nearest earlier partition, not the previous run in time: a
// backfill compares with the day before it, and a shard never with another shard of its own day.

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

const baselineOf = (dir: string): string | undefined =>
  JSON.parse(readFileSync(path.join(s.dir, 'out', dir, '_mlscale_run.json'), 'utf8')).stats?.drift?.baseline_run_id;

describe('baseline: previous', () => {
  it('is the nearest earlier partition, same shard first; a backfill of the oldest day has none', async () => {
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
    expect(baselineOf('ds=2024-01-04/shard-1-of-2')).toBe('c2');
    expect(baselineOf('ds=2024-01-04/shard-0-of-2')).toBe('c2');
  });
});
