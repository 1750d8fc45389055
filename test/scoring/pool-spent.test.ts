import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { TaskThread } from '../../src/task-thread.js';
import type { ScoreResult, ScoreTask, WorkerInit } from '../../src/scoring/wire.js';
import { onnxFixture } from '../support/paths.js';

const file = onnxFixture('test_xgb.onnx');
const model = { modelBytes: readFileSync(file), modelFile: file, providers: ['cpu'], intraOpThreads: 1 };

// A chunk's feature buffers move to a worker to be scored. Left there once scored, they lived
// until the worker's next garbage collection, which its small heap puts off for long: tens of MB
// of dead feeds per worker. The worker hands them back with the scores, to the thread that
// allocated them and collects often.
describe('a scoring worker', () => {
  it('hands a chunk’s feature buffers back with its scores', async () => {
    const init: WorkerInit = { models: [model], started: new Int32Array(new SharedArrayBuffer(4)) };
    const thread = new TaskThread(
      new Worker(new URL('../../dist/scoring/score-worker.js', import.meta.url), { workerData: init }),
    );
    try {
      const rows = 65_536;
      const data = new Float32Array(rows * 4).fill(0.5);
      const task: ScoreTask = {
        chunk: 0,
        model: 0,
        feeds: [{ input: 'X', type: 'float32', dims: [rows, 4], data }],
        fetch: ['variable'],
        rowByRow: false,
      };
      const answer = thread.run(task, [data.buffer]) as Promise<ScoreResult>;
      // Moved, not copied, to the worker.
      expect(data.buffer.byteLength).toBe(0);
      const r = await answer;
      expect(r.outputs[0]!.dims[0]).toBe(rows);
      expect(r.spent.map((b) => b.byteLength)).toEqual([rows * 4 * 4]);
      expect(new Float32Array(r.spent[0]!)[rows * 4 - 1]).toBe(0.5);
    } finally {
      await thread.terminate();
    }
  });
});
