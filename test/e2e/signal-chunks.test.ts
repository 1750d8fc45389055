import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMlscale } from '../support/cli.js';
import { scratchDir } from '../support/job.js';
import { waitFor } from '../support/wait.js';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { treeEnsembleModel } from '../../scripts/lib/onnx-builder.mjs';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { writeFeatureFiles } from '../../scripts/lib/parquet-data.mjs';

// A signal stops a run at its next chunk: the chunks read ahead are not scored (a 1.5M-row job
// went on scoring them for 17 s after SIGTERM; a pod has 30 s before it is killed).
const s = scratchDir('signal-chunks');
beforeAll(() => {
  writeFileSync(path.join(s.dir, 'model.onnx'), treeEnsembleModel({ features: 8, trees: 400, depth: 10, seed: 3 }));
  writeFeatureFiles(path.join(s.dir, 'data'), { rows: 400_000, features: 8, files: 1, rowGroupSize: 400_000 });
});
afterAll(() => s.remove());

describe('SIGTERM during scoring', () => {
  it('stops at the next chunk: what was read ahead is not scored (exit 143)', async () => {
    const job = s.file(
      'job.yaml',
      `name: sigchunks
model: { path: model.onnx, features: [f0, f1, f2, f3, f4, f5, f6, f7] }
source: { parquet: { path: "data/*.parquet" } }
key: [id]
batch_size: 50000
sink: { parquet: { path: "out/ds={{ ds }}" } }
`,
    );
    const run = startMlscale(
      ['score', '--job', job, '--param', 'ds=2024-01-01', '--log-format', 'json', '--parallelism', '1'],
      { cwd: s.dir },
    );
    await waitFor('the first chunk written', () => run.log().includes('"progress"'));
    run.child.kill('SIGTERM');
    const r = await run.done;
    expect(r.code).toBe(143);
    expect(r.stderr).toContain('run aborted by SIGTERM; nothing was published.');
    const runs = path.join(s.dir, 'out', '_mlscale', 'runs');
    const [record] = readdirSync(runs).map((f) => JSON.parse(readFileSync(path.join(runs, f), 'utf8')));
    expect(record.status).toBe('failed');
    // Eight chunks in the file. At the signal one was written; the chunks in the worker (two at
    // most) and the one being read finish; the rest is left. Before, every chunk was read and scored.
    expect(record.rows_read).toBeLessThanOrEqual(200_000);
  });

  it('a reader that closes stderr mid-run ends it with exit 1, not an abort inside the scoring worker', async () => {
    // `mlscale score ... 2>&1 | head -3`: the next log line fails with EPIPE, and the process
    // exits 1 once its worker has scored the chunk it holds (exiting at once, with the worker
    // inside onnxruntime's run, aborted the process: exit 134).
    const run = startMlscale(
      [
        'score',
        '--job',
        path.join(s.dir, 'job.yaml'),
        '--param',
        'ds=2024-01-02',
        '--log-format',
        'json',
        '--parallelism',
        '1',
      ],
      { cwd: s.dir },
    );
    await waitFor('the first chunk written', () => run.log().includes('"progress"'));
    run.child.stderr!.destroy();
    const r = await run.done;
    expect({ code: r.code, signal: r.signal }).toEqual({ code: 1, signal: null });
    // Stopped as a signal stops a run: its lock released, its failure and why in its ledger.
    expect(existsSync(path.join(s.dir, 'out', '.ds=2024-01-02.lock'))).toBe(false);
    const runs = path.join(s.dir, 'out', '_mlscale', 'runs');
    const records = readdirSync(runs).map((f) => JSON.parse(readFileSync(path.join(runs, f), 'utf8')));
    const record = records.find((x) => x.partition === '2024-01-02');
    expect([record.status, record.error]).toEqual(['failed', 'stderr was closed (EPIPE): the run was stopped']);
  });
});
