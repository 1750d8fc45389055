import type { WireFeed } from '../tensors/to-feeds.js';

/** One model a worker holds a session for. */
export interface WorkerModel {
  readonly modelBytes: Uint8Array;
  readonly modelFile: string;
  readonly providers: readonly string[];
  readonly intraOpThreads: number;
}

/** What the main thread hands a worker once, at start. */
export interface WorkerInit {
  readonly models: readonly WorkerModel[];
}

/** One chunk to score with one of the worker's models. */
export interface ScoreTask {
  readonly chunk: number;
  readonly model: number;
  readonly feeds: readonly WireFeed[];
  readonly fetch: readonly string[];
  readonly rowByRow: boolean;
}

export type OutputData =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | string[];

export interface WireOutput {
  readonly name: string;
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: OutputData;
}
