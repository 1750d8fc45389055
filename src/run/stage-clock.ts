import { performance } from 'node:perf_hooks';
import type { StageTimings } from '../stats/types.js';

export type { StageTimings };

export type Stage = 'read' | 'tensors' | 'inference' | 'stats' | 'write' | 'wait' | 'publish';

export class StageClock {
  private readonly ms: StageTimings = {
    start_ms: 0,
    read_ms: 0,
    tensors_ms: 0,
    inference_ms: 0,
    stats_ms: 0,
    write_ms: 0,
    wait_ms: 0,
    publish_ms: 0,
  };

  /** Runs `fn`, adding its time to `stage`. */
  time<T>(stage: Stage, fn: () => T): T {
    const t = performance.now();
    try {
      return fn();
    } finally {
      this.ms[`${stage}_ms`] += performance.now() - t;
    }
  }

  async timeAsync<T>(stage: Stage, fn: () => Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      this.ms[`${stage}_ms`] += performance.now() - t;
    }
  }

  add(stage: Stage, ms: number): void {
    this.ms[`${stage}_ms`] += ms;
  }

  /** Marks the first chunk read: the time since the process started. */
  firstChunk(): void {
    if (this.ms.start_ms === 0) this.ms.start_ms = performance.now();
  }

  result(): StageTimings {
    return Object.fromEntries(Object.entries(this.ms).map(([k, v]) => [k, Math.round(v)])) as unknown as StageTimings;
  }
}
