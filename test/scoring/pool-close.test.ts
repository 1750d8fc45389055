import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/paths.js';
import { scratchDir } from '../support/job.js';

const s = scratchDir('pool-close');
afterAll(() => s.remove());

describe('the scoring pool', () => {
  it('is ended without aborting the process while its workers are still loading a model', () => {
    // A run refused at its lock, or whose planning fails, ends its pool at once, while each worker
    // is still inside onnxruntime creating its session: ending a thread there aborts the whole
    // process (SIGABRT, "terminate called after throwing an instance of 'Napi::Error'"), which
    // killed `mlscale schedule`. A model that takes about a second to load makes the moment certain.
    const script = path.join(s.dir, 'close-while-loading.mjs');
    writeFileSync(
      script,
      `import { treeEnsembleModel } from ${JSON.stringify(path.join(repoRoot, 'scripts/lib/onnx-builder.mjs'))};
import { ScorerPool } from ${JSON.stringify(path.join(repoRoot, 'dist/scoring/scorer-pool.js'))};
const bytes = treeEnsembleModel({ features: 32, trees: 300, depth: 10, seed: 2 });
for (let i = 0; i < 2; i++) {
  const pool = new ScorerPool({ threads: 2, eager: true, models: [{ modelBytes: bytes, modelFile: 'big.onnx', providers: ['cpu'], intraOpThreads: 1 }] });
  await new Promise((r) => setTimeout(r, 100));
  await pool.close();
  console.log('closed');
}
`,
    );
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).not.toMatch(/terminate called|Napi::Error/);
    expect({ status: r.status, signal: r.signal, stdout: r.stdout }).toEqual({
      status: 0,
      signal: null,
      stdout: 'closed\nclosed\n',
    });
  });

  it('is ended without aborting the process while a worker it started as the run went is loading', () => {
    // The pool starts its second worker when the first is kept busy (pool-growth.test.ts); a run
    // may end right then, with that worker inside onnxruntime loading a model that takes a second.
    const script = path.join(s.dir, 'close-while-growing.mjs');
    writeFileSync(
      script,
      `import { treeEnsembleModel } from ${JSON.stringify(path.join(repoRoot, 'scripts/lib/onnx-builder.mjs'))};
import { ScorerPool } from ${JSON.stringify(path.join(repoRoot, 'dist/scoring/scorer-pool.js'))};
const bytes = treeEnsembleModel({ features: 32, trees: 300, depth: 10, seed: 2 });
const pool = new ScorerPool({ threads: 2, models: [{ modelBytes: bytes, modelFile: 'big.onnx', providers: ['cpu'], intraOpThreads: 1 }] });
const task = (i) => ({ chunk: i, model: 0, feeds: [{ input: 'X', type: 'float32', dims: [2048, 32], data: new Float32Array(2048 * 32).fill(0.5) }], fetch: ['y'], rowByRow: false });
const inFlight = [];
for (let i = 0; pool.workers < 2 && i < 400; i++) {
  inFlight.push(pool.score(task(i)));
  if (inFlight.length >= 4) await inFlight.shift();
}
await pool.close();
await Promise.allSettled(inFlight);
console.log('closed with', pool.workers, 'workers');
`,
    );
    // At full priority, and alone (vitest.config.ts): the pool grows on a worker that computes.
    const r = spawnSync(process.execPath, [script], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, MLSCALE_WORKER_NICE: '0' },
    });
    expect(r.stderr).not.toMatch(/terminate called|Napi::Error/);
    expect({ status: r.status, signal: r.signal, stdout: r.stdout }).toEqual({
      status: 0,
      signal: null,
      stdout: 'closed with 2 workers\n',
    });
  });
});
