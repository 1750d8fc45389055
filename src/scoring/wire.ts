import type { WireFeed } from '../tensors/to-feeds.js';

/** What the main thread hands a worker once, at start. */
export interface WorkerInit {
  readonly modelBytes: Uint8Array;
  readonly modelFile: string;
  readonly providers: readonly string[];
  readonly intraOpThreads: number;
}

/** One chunk to score. */
export interface ScoreTask {
  readonly chunk: number;
  readonly feeds: readonly WireFeed[];
  readonly fetch: readonly string[];
  readonly rowByRow: boolean;
}

export type OutputData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array | string[];

export interface WireOutput {
  readonly name: string;
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: OutputData;
}
