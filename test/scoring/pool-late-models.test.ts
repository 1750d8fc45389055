import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ScorerPool } from '../../src/scoring/scorer-pool.js';
import type { ScoreTask } from '../../src/scoring/wire.js';
import { onnxFixture } from '../support/paths.js';

const file = onnxFixture('test_xgb.onnx');
const model = { modelBytes: readFileSync(file), modelFile: file, providers: ['cpu'], intraOpThreads: 1 };

/** Threads of this process, from /proc (each scoring worker is one, besides onnxruntime's and V8's). */
const threads = () => readdirSync('/proc/self/task').length;

function task(chunk: number, rows: number): ScoreTask {
  return {
    chunk,
    model: 0,
    feeds: [{ input: 'X', type: 'float32', dims: [rows, 4], data: new Float32Array(rows * 4).fill(0.5) }],
    fetch: ['variable'],
    rowByRow: false,
  };
}

describe('a scoring pool started before its models are known', () => {
  it('scores with the models given later, on the worker it started', async () => {
    const pool = new ScorerPool();
    try {
      pool.load([model], 3);
      // The others start when this one is kept busy (pool-growth.test.ts).
      expect(pool.workers).toBe(1);
      await pool.check(0);
      const outs = await Promise.all([0, 1, 2].map((i) => pool.score(task(i, 10 + i))));
      outs.forEach((o, i) => expect(o[0]!.dims[0]).toBe(10 + i));
    } finally {
      await pool.close();
    }
  });

  it('scores with the models given later, on as many workers as load() asks for when eager', async () => {
    const pool = new ScorerPool({ eager: true });
    try {
      const before = threads();
      pool.load([model], 3);
      // Two more workers, each a thread (and onnxruntime's own threads once loaded).
      expect(pool.workers).toBe(3);
      expect(threads()).toBeGreaterThanOrEqual(before + 2);
      await pool.check(0);
      const outs = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => pool.score(task(i, 10 + i))));
      outs.forEach((o, i) => expect(o[0]!.dims[0]).toBe(10 + i));
      expect(() => pool.load([model], 1)).toThrow(/models are given once/);
    } finally {
      await pool.close();
    }
  });

  it('is closed before its models arrive without aborting the process, and refuses work once closed', async () => {
    const pool = new ScorerPool();
    await pool.close();
    await expect(pool.check(0)).rejects.toThrow(/closed/);
  });

  it('fails a chunk onnxruntime rejects with a sentence, and scores the next one', async () => {
    const pool = new ScorerPool({ threads: 1, models: [model] });
    try {
      const bad = { ...task(7, 2), feeds: [{ ...task(7, 2).feeds[0]!, dims: [2, 7], data: new Float32Array(14) }] };
      await expect(pool.score(bad)).rejects.toThrow(/^scoring: chunk 7 failed in onnxruntime \(.+\)\.$/);
      expect((await pool.score(task(8, 4)))[0]!.dims[0]).toBe(4);
    } finally {
      await pool.close();
    }
  });
});
