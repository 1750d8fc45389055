import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { TaskThread, type Queued } from '../src/task-thread.js';
import { scratchDir } from './support/job.js';
import { repoRoot } from './support/paths.js';

// A worker on serveTasks (the build's, as the real threads load it) that notes when each task
// arrives, starts and ends.
const s = scratchDir('task-thread');
afterAll(() => s.remove());
const workerFile = path.join(s.dir, 'worker.mjs');
writeFileSync(
  workerFile,
  `import { parentPort } from 'node:worker_threads';
import { serveTasks } from ${JSON.stringify(pathToFileURL(path.join(repoRoot, 'dist', 'task-serve.js')).href)};
const log = [];
parentPort.on('message', (m) => { if (m.kind === 'task') log.push(['arrived', m.task.tag, performance.now()]); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
serveTasks(async (t) => {
  log.push(['start', t.tag, performance.now()]);
  if (t.op === 'exit') { await sleep(t.ms); process.exit(3); }
  if (t.op === 'sleep') await sleep(t.ms);
  log.push(['end', t.tag, performance.now()]);
  if (t.op === 'log') return { value: log, transfer: [] };
  if (t.op === 'len') return { value: t.buf.byteLength, transfer: [] };
  return { value: t.tag, transfer: [] };
});
`,
);

describe('TaskThread', () => {
  it('posts tasks without buffers ahead, and the thread runs them one at a time, in order', async () => {
    const thread = new TaskThread(new Worker(workerFile));
    try {
      const done = await Promise.all([0, 1, 2, 3, 4].map((tag) => thread.run({ op: 'sleep', ms: 15, tag })));
      expect(done).toEqual([0, 1, 2, 3, 4]);
      const log = (await thread.run({ op: 'log', tag: 'log' })) as [string, unknown, number][];
      const at = (what: string, tag: unknown) => log.find(([w, t]) => w === what && t === tag)![2];
      for (let tag = 1; tag <= 4; tag++) expect(at('start', tag)).toBeGreaterThanOrEqual(at('end', tag - 1));
      expect(log.filter(([w]) => w === 'start').map(([, t]) => t)).toEqual([0, 1, 2, 3, 4, 'log']);
      // Every task was with the thread before the first one ended: none waited for an answer here.
      for (let tag = 1; tag <= 4; tag++) expect(at('arrived', tag)).toBeLessThan(at('end', 0));
    } finally {
      await thread.terminate();
    }
  });

  it('holds a task that hands over buffers until nothing is in flight; a thread that dies leaves the tasks after the one it was on, buffers intact, to the next', async () => {
    let waiting: readonly Queued[] = [];
    let exited!: () => void;
    const exit = new Promise<void>((r) => (exited = r));
    const thread = new TaskThread(new Worker(workerFile), {
      onExit: (w) => {
        waiting = w;
        exited();
      },
    });
    const buf = new ArrayBuffer(1000);
    const dies = thread.run({ op: 'exit', ms: 30, tag: 'dies' });
    const after = thread.run({ op: 'sleep', ms: 1, tag: 'after' });
    const withBuffer = thread.run({ op: 'len', buf, tag: 'buf' }, [buf]);
    // Not posted yet: it would be lost with the thread.
    expect(buf.byteLength).toBe(1000);
    await expect(dies).rejects.toThrow(/exit code 3/);
    await exit;
    expect(waiting.map((q) => (q.task as { tag: string }).tag)).toEqual(['after', 'buf']);
    expect(buf.byteLength).toBe(1000);
    const next = new TaskThread(new Worker(workerFile));
    try {
      next.resubmit(waiting);
      expect(await after).toBe('after');
      expect(await withBuffer).toBe(1000);
    } finally {
      await next.terminate();
    }
  });

  it('posts tasks with buffers ahead too when told (the scoring pool, which fails every task of a thread that stops)', async () => {
    const thread = new TaskThread(new Worker(workerFile), { postBuffersAhead: true });
    try {
      const first = thread.run({ op: 'sleep', ms: 20, tag: 'first' });
      const buf = new ArrayBuffer(1000);
      const second = thread.run({ op: 'len', buf, tag: 'second' }, [buf]);
      // Posted at once: its buffer is the worker's already.
      expect(buf.byteLength).toBe(0);
      expect(thread.pending).toBe(2);
      expect([await first, await second]).toEqual(['first', 1000]);
      expect(thread.pending).toBe(0);
    } finally {
      await thread.terminate();
    }
  });
});
