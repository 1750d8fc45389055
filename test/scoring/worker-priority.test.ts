import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ScorerPool } from '../../src/scoring/scorer-pool.js';
import { onnxFixture } from '../support/paths.js';

/** Niceness of each thread of this process, from /proc (field 19 of stat, after the command name). */
function threadNiceness(): number[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

describe.runIf(process.platform === 'linux')('scoring threads', () => {
  it('yield the CPU to the main thread once their sessions are loaded (niceness 10)', async () => {
    const before = threadNiceness().filter((n) => n === 10).length;
    const file = onnxFixture('test_xgb.onnx');
    const pool = new ScorerPool({
      threads: 2,
      eager: true,
      models: [{ modelBytes: readFileSync(file), modelFile: file, providers: ['cpu'], intraOpThreads: 1 }],
    });
    try {
      await pool.check(0);
      // Each worker lowers itself right after its sessions load; wait for both (no timing: a condition).
      const deadline = Date.now() + 10_000;
      while (threadNiceness().filter((n) => n === 10).length < before + 2 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      // At least the two workers; a thread one of them starts afterwards (onnxruntime's, under
      // load) inherits its niceness, and works for it.
      expect(threadNiceness().filter((n) => n === 10).length).toBeGreaterThanOrEqual(before + 2);
      // This thread (the main one) keeps its priority.
      expect(threadNiceness()[0]).toBe(0);
    } finally {
      await pool.close();
    }
  });
});
