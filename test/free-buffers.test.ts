import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { freeBuffers } from '../src/free-buffers.js';

const mb = (n: number) => n * 1024 * 1024;

describe('freeBuffers', () => {
  it('detaches each buffer at once: every view of it reads as empty', () => {
    const a = new ArrayBuffer(mb(1));
    const view = new Float32Array(a, 16, 8);
    new Uint8Array(a).fill(7);
    const b = new ArrayBuffer(100);
    freeBuffers([a, b]);
    expect(a.byteLength).toBe(0);
    expect(b.byteLength).toBe(0);
    expect(view.length).toBe(0);
    expect(view[0]).toBeUndefined();
  });

  it('gives the memory back within a turn of the event loop, with no garbage collection', async () => {
    const held = Array.from({ length: 8 }, () => new Uint8Array(mb(8)).fill(1).buffer);
    const holding = process.memoryUsage().arrayBuffers;
    freeBuffers(held);
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Still referenced from `held`, so no collector could have freed them.
    expect(holding - process.memoryUsage().arrayBuffers).toBeGreaterThanOrEqual(mb(64));
    expect(held.every((b) => b.byteLength === 0)).toBe(true);
  });

  it('leaves alone what cannot be detached, and goes on with the rest', () => {
    const shared = new SharedArrayBuffer(64);
    const detached = new ArrayBuffer(8);
    freeBuffers([detached]);
    const after = new ArrayBuffer(32);
    const memory = new WebAssembly.Memory({ initial: 1 });
    freeBuffers([shared, detached, memory.buffer, undefined, after]);
    expect(shared.byteLength).toBe(64);
    expect(memory.buffer.byteLength).toBe(65536);
    expect(after.byteLength).toBe(0);
  });

  it('works in a worker thread, as on the main thread (each thread has its own port)', async () => {
    const url = new URL('../dist/free-buffers.js', import.meta.url).href;
    const worker = new Worker(
      `import { parentPort } from 'node:worker_threads';
       const { freeBuffers } = await import(${JSON.stringify(url)});
       const b = new ArrayBuffer(1 << 20);
       freeBuffers([b]);
       parentPort.postMessage(b.byteLength);`,
      { eval: true, type: 'module' } as never,
    );
    const length = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    expect(length).toBe(0);
  });
});
