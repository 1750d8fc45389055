import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/paths.js';
import { scratchDir } from '../support/job.js';

const s = scratchDir('pool-close');
afterAll(() => s.remove());

/** The head of each script: a forest that takes about a second to load, and the built pool. */
const HEAD = `import { treeEnsembleModel } from ${JSON.stringify(path.join(repoRoot, 'scripts/lib/onnx-builder.mjs'))};
import { ScorerPool } from ${JSON.stringify(path.join(repoRoot, 'dist/scoring/scorer-pool.js'))};
const bytes = treeEnsembleModel({ features: 32, trees: 300, depth: 10, seed: 2 });
const model = { modelBytes: bytes, modelFile: 'big.onnx', providers: ['cpu'], intraOpThreads: 1 };
`;

/** Runs `body` after HEAD in its own process: it must end with status 0, print `stdout`, and not abort. */
function expectCleanEnd(name: string, body: string, stdout: string, env: NodeJS.ProcessEnv = process.env): void {
  const script = path.join(s.dir, name);
  writeFileSync(script, HEAD + body);
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 120_000, env });
  expect(r.stderr).not.toMatch(/terminate called|Napi::Error/);
  expect({ status: r.status, signal: r.signal, stdout: r.stdout }).toEqual({ status: 0, signal: null, stdout });
}

describe('the scoring pool', () => {
  it('is ended without aborting the process while its workers are still loading a model', () => {
    // A run refused at its lock, or whose planning fails, ends its pool at once, while each worker
    // is still inside onnxruntime creating its session: ending a thread there aborts the whole
    // process (SIGABRT, "terminate called after throwing an instance of 'Napi::Error'"), which
    // killed `mlscale schedule`. A model that takes about a second to load makes the moment certain.
    expectCleanEnd(
      'close-while-loading.mjs',
      `for (let i = 0; i < 2; i++) {
  const pool = new ScorerPool({ threads: 2, eager: true, models: [model] });
  await new Promise((r) => setTimeout(r, 100));
  await pool.close();
  console.log('closed');
}
`,
      'closed\nclosed\n',
    );
  });

  it('is ended without aborting the process while its worker scores a chunk, which is answered', () => {
    // A failed run closes its pool; a chunk handed to a worker may be inside onnxruntime's run then.
    expectCleanEnd(
      'close-while-scoring.mjs',
      `const pool = new ScorerPool({ threads: 1, models: [model] });
const task = (rows) => ({ chunk: 0, model: 0, feeds: [{ input: 'X', type: 'float32', dims: [rows, 32], data: new Float32Array(rows * 32).fill(0.5) }], fetch: ['y'], rowByRow: false });
await pool.score(task(16));
const big = pool.score(task(200_000)).then((o) => o[0].dims[0]);
const after = pool.score(task(16)).then(() => 'scored', () => 'failed');
await new Promise((r) => setTimeout(r, 50));
await pool.close();
console.log(await big, await after);
`,
      // The chunk it was on is scored; one waiting in the pool (one worker holds one chunk) fails.
      '200000 failed\n',
    );
  });

  it('is ended without aborting the process while a worker it started as the run went is loading', () => {
    // The pool starts its second worker when the first is kept busy (pool-growth.test.ts); a run
    // may end right then, with that worker inside onnxruntime loading a model that takes a second.
    // At full priority, and alone (vitest.config.ts): the pool grows on a worker that computes.
    expectCleanEnd(
      'close-while-growing.mjs',
      `const pool = new ScorerPool({ threads: 2, models: [model] });
const task = (i) => ({ chunk: i, model: 0, feeds: [{ input: 'X', type: 'float32', dims: [2048, 32], data: new Float32Array(2048 * 32).fill(0.5) }], fetch: ['y'], rowByRow: false });
const inFlight = [];
for (let i = 0; pool.workers < 2 && i < 400; i++) {
  inFlight.push(pool.score(task(i)));
  if (inFlight.length >= 4) await inFlight.shift();
}
const answered = Promise.allSettled(inFlight);
await pool.close();
await answered;
console.log('closed with', pool.workers, 'workers');
`,
      'closed with 2 workers\n',
      { ...process.env, MLSCALE_WORKER_NICE: '0' },
    );
  });
});
