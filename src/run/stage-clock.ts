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
  /** When the first chunk was read, and the process's CPU time then. */
  private first: { at: number; cpuMs: number } | undefined;

  /** `origin`: when the run began on performance.now()'s clock (0: when the process did). */
  constructor(private readonly origin = 0) {}

  add(stage: Stage, ms: number): void {
    this.ms[`${stage}_ms`] += ms;
  }

  /** Marks the first chunk read: start_ms is the time since the origin. */
  firstChunk(): void {
    if (this.first) return;
    this.first = { at: performance.now(), cpuMs: processCpuMs() };
    this.ms.start_ms = this.first.at - this.origin;
  }

  result(): StageTimings {
    const out = Object.fromEntries(
      Object.entries(this.ms).map(([k, v]) => [k, Math.round(v)]),
    ) as unknown as StageTimings;
    if (this.first) {
      const cpu = processCpuMs() - this.first.cpuMs;
      const wall = performance.now() - this.first.at;
      out.cpu_ms = Math.round(cpu);
      out.cpu_cores = wall > 0 ? Math.round((cpu / wall) * 100) / 100 : 0;
    }
    return out;
  }
}

/** CPU time of the whole process so far (every thread), user and system, in milliseconds. */
function processCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}
