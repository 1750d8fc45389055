import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileBlob } from '../../src/source/range-blob.js';
import { scratchDir } from '../support/job.js';

const s = scratchDir('range-blob');
const bytes = Uint8Array.from({ length: 4096 }, (_, i) => i % 251);

function file(name: string): string {
  const f = path.join(s.dir, name);
  writeFileSync(f, bytes);
  return f;
}

describe('a file read by ranges (fileBlob)', () => {
  it('gives each slice its bytes; release() frees the slices read so far, and only those', async () => {
    const f = await fileBlob(file('a.bin'));
    try {
      const first = await f.blob.slice(10, 110).arrayBuffer();
      const second = await f.blob.slice(1000, 3000).arrayBuffer();
      expect([...new Uint8Array(first)]).toEqual([...bytes.subarray(10, 110)]);
      expect([...new Uint8Array(second)]).toEqual([...bytes.subarray(1000, 3000)]);
      f.release();
      expect(first.byteLength).toBe(0);
      expect(second.byteLength).toBe(0);
      // Slices read after a release are the next release's.
      const third = await f.blob.slice(4000).arrayBuffer();
      expect([...new Uint8Array(third)]).toEqual([...bytes.subarray(4000)]);
      f.release();
      expect(third.byteLength).toBe(0);
    } finally {
      await f.close();
    }
  });

  it('never frees a slice still being read when release() is called', async () => {
    const f = await fileBlob(file('b.bin'));
    try {
      const reading = f.blob.slice(0, 4096).arrayBuffer();
      f.release();
      const whole = await reading;
      expect(whole.byteLength).toBe(4096);
      expect([...new Uint8Array(whole)]).toEqual([...bytes]);
    } finally {
      await f.close();
    }
  });

  it('keeps every slice when the caller never releases (a file read whole and kept)', async () => {
    const f = await fileBlob(file('c.bin'));
    const whole = await f.blob.arrayBuffer();
    await f.close();
    expect(whole.byteLength).toBe(4096);
    expect([...new Uint8Array(whole)]).toEqual([...bytes]);
  });
});
