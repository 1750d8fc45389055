/**
 * MLSCALE_BENCH_SERIAL=1 is how the bench measures each stage's own cost: one chunk in flight, and
 * nothing read, decoded or encoded ahead, so every stage's work is in the main thread's clock
 * (README, Performance). Never set in production: it only makes a run slower.
 */
export function benchSerial(): boolean {
  return process.env.MLSCALE_BENCH_SERIAL === '1';
}
