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
