import { describe, expect, it } from 'vitest';
import { Accumulator } from '../../src/stats/accumulator.js';

/** A batch of `n` finite values from a seeded generator (xorshift), skewed so quantiles differ. */
function batch(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32) ** 3 * 100;
  }
  return out;
}

describe('the feature sample', () => {
  it('is the same whether the values known finite are visited one by one or only where they enter it', () => {
    // Batches of 8192 values offered every 4th, as the collector does: the 10,000-value reservoir
    // fills in the fifth batch (mid-batch), and algorithm L replaces values for 60 batches more.
    for (const stride of [1, 4, 7]) {
      const each = new Accumulator();
      const jumping = new Accumulator();
      for (let b = 0; b < 64; b++) {
        const values = batch(8192, b + 1);
        each.offerStrided(values, values.length, stride, false);
        jumping.offerStrided(values, values.length, stride, true);
      }
      const sampled = (a: Accumulator) => a.sample;
      expect(sampled(jumping).length).toBe(10_000);
      expect(Array.from(sampled(jumping))).toEqual(Array.from(sampled(each)));
    }
  });

  it('takes late values into the reservoir on the fast path too', () => {
    const a = new Accumulator();
    for (let b = 0; b < 200; b++) a.offerStrided(new Float32Array(8192).fill(b < 2 ? 1 : 2), 8192, 1, true);
    // 16,384 ones then 1.6M twos: nearly all of a uniform sample is twos.
    const sample = a.sample;
    const twos = Array.from(sample).filter((x) => x === 2).length;
    expect(twos / sample.length).toBeGreaterThan(0.97);
  });
});

describe('the moments', () => {
  // The fields that hold fractions start as -0 (accumulator.ts says why): no result may show it.
  it('of zeros are a positive zero mean and spread, whether added one by one or merged', () => {
    const added = new Accumulator();
    for (let i = 0; i < 5; i++) added.add(0);
    const merged = new Accumulator();
    merged.merge(5, 0, 0, 0, 0, 0);
    for (const a of [added, merged]) {
      const r = a.result();
      expect(r.count).toBe(5);
      expect(Object.is(r.mean, 0)).toBe(true);
      expect(Object.is(r.std, 0)).toBe(true);
      expect(JSON.stringify(r)).not.toContain('-0');
    }
  });

  it('of negative zeros are zero', () => {
    const a = new Accumulator();
    a.add(-0);
    a.add(-0);
    expect(a.result().count).toBe(2);
    expect(a.result().mean).toBe(0);
  });
});
