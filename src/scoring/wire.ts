import type { WireFeed, WireOutput } from '../tensors/wire.js';

/** One model a worker holds a session for. */
export interface WorkerModel {
  readonly modelBytes: Uint8Array;
  readonly modelFile: string;
  readonly providers: readonly string[];
  readonly intraOpThreads: number;
}

/** What the main thread hands a worker at start. */
export interface WorkerInit {
  /** The models, where they were known when the worker started; otherwise a `models` message brings them. */
  readonly models?: readonly WorkerModel[];
  /** Shared by the pool's workers: each takes the next number as it starts (Atomics.add). */
  readonly started: Int32Array;
}

/** Main thread to worker, besides its tasks (ScoreTask, CheckTask): the models, for a worker started ahead of them. */
export interface ToWorker {
  readonly kind: 'models';
  readonly models: readonly WorkerModel[];
}

/**
 * Worker to main thread, besides its answers: it may be ended now. onnxruntime is loaded and,
 * once it has models, every session it started creating has loaded or failed (ending a thread
 * inside onnxruntime's session creation aborts the whole process).
 */
export interface FromWorker {
  readonly kind: 'settled';
  readonly withModels: boolean;
  /** Why a model's session failed to load here, where one did (the first that failed). */
  readonly loadError?: string;
}

/** One chunk to score with one of the worker's models. */
export interface ScoreTask {
  readonly chunk: number;
  readonly model: number;
  readonly feeds: readonly WireFeed[];
  readonly fetch: readonly string[];
  readonly rowByRow: boolean;
}

/** A worker's answer: the outputs, and its time inside onnxruntime (for the run's stage timings). */
export interface ScoreResult {
  readonly outputs: WireOutput[];
  readonly ms: number;
  /** The worker thread's CPU time for the chunk, where the platform tells it (thread-cpu.ts). */
  readonly cpuMs?: number;
  /**
   * The chunk's feature buffers, handed back once scored. Left in the worker they lived until its
   * next garbage collection, which its small heap puts off for long: up to 30 MB of dead feeds
   * per worker (README, Performance). Back on the main thread, which collects often, they go soon.
   */
  readonly spent: readonly ArrayBuffer[];
}

/** One row of zeros for a model that does not declare its feature count (the planner's check). */
export interface Probe {
  readonly feeds: readonly WireFeed[];
  readonly fetch: readonly string[];
}

/** Loads a model as scoring will and, for a model that does not declare its widths, scores one probe row. */
export interface CheckTask {
  readonly kind: 'check';
  readonly model: number;
  readonly probe?: Probe;
}

/** An error that crossed from a worker: its class is rebuilt on the main thread from `usage`. */
export interface WireError {
  readonly usage: boolean;
  readonly code: string;
  readonly message: string;
}

/** What loading the model said: onnxruntime's warnings (a provider it fell back from), or why it failed. */
export interface CheckResult {
  readonly warnings: readonly string[];
  readonly loadError?: WireError;
  /** onnxruntime's message when the probe row failed. */
  readonly probeError?: string;
}
