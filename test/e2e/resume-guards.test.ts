import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, mlscale } from '../support/cli.js';
import { scratchDir } from '../support/job.js';
import { hasStrace, straced } from '../support/strace.js';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { logisticModel } from '../../scripts/lib/onnx-builder.mjs';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { writeFeatureFiles } from '../../scripts/lib/parquet-data.mjs';

// --resume continues only the run it checkpointed: same model, parameters, job file and source.
// The run is killed at an exact step (its second checkpoint's rename, injected by strace).

const s = scratchDir('resume');
const ROWS = 12_000;
const model = path.join(s.dir, 'model.onnx');
const data = path.join(s.dir, 'data');
const jobText = `name: guarded
params: { ds: "2024-01-01", note: a }
model:
  path: model.onnx
  features: [f0, f1, f2]
source:
  parquet: { path: data }
key: [id]
batch_size: 1000
parallelism: 1
checkpoint_rows: 3000
sink:
  parquet: { path: "out/ds={{ ds }}", rows_per_file: 3000 }
`;
const writeModel = (w: number) =>
  writeFileSync(model, logisticModel({ weights: [w, -1, 0.5], bias: 0, inputName: 'x' }));
const writeData = () => writeFeatureFiles(data, { rows: ROWS, features: 3, files: 2, rowGroupSize: 1000 });

beforeAll(() => {
  writeModel(1);
  writeData();
});
afterAll(() => s.remove());

/** Runs the job, killed with SIGKILL at its second checkpoint (the rename that commits it). */
function killAtSecondCheckpoint(file: string): void {
  expect(straced(s.dir, ['score', '--job', file], 'rename', 2).status).toBeNull();
}

describe.skipIf(!hasStrace)('--resume refuses a run whose inputs changed', () => {
  it('names what changed (exit 2); resumed unchanged, it counts every row once', async () => {
    const file = s.file('guarded.yaml', jobText);
    killAtSecondCheckpoint(file);
    const resume = (...extra: string[]) =>
      mlscale(['score', '--job', file, '--resume', '--json', ...extra], { cwd: s.dir });
    const refused = async (what: string, ...extra: string[]) => {
      const r = await resume(...extra);
      expect(r.code, what).toBe(2);
      expect(errorLine(r)).toMatch(
        new RegExp(
          `^error: --resume: ${what} changed since run \\S+ was checkpointed; its rows and the rest would not belong together, so nothing was resumed\\. Run again without --resume to score the partition from the start\\.$`,
        ),
      );
    };
    writeModel(2);
    await refused('the model file');
    writeModel(1);
    await refused('the parameters', '--param', 'note=b');
    appendFileSync(file, '# edited\n');
    await refused('the job file');
    writeFileSync(file, jobText);
    writeData(); // same rows, rewritten: a new modification time
    await refused('the source \\(its files or query\\)');

    // The source changed, so that checkpoint can never be resumed: take a fresh one and resume it.
    killAtSecondCheckpoint(file);
    const r = await resume();
    expect(errorLine(r)).toBe('');
    const result = JSON.parse(r.stdout);
    expect([result.rowsRead, result.rowsWritten]).toEqual([ROWS, ROWS]);
    const ledger = JSON.parse(readFileSync(path.join(s.dir, 'out', 'ds=2024-01-01', '_mlscale_run.json'), 'utf8'));
    expect([ledger.rows_read, ledger.rows_scored, ledger.rows_written]).toEqual([ROWS, ROWS, ROWS]);
  }, 120_000);
});
