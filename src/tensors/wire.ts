import type { FeedType } from './io-plan.js';

// The tensors that cross between the main thread and the scoring workers, as plain arrays and
// transferable buffers. They are defined here, on the tensors side, so that tensors/ never
// imports scoring/.

export type FeedData =
  Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array | string[];

/** A tensor ready to cross to a worker: plain arrays, transferable buffers. */
export interface WireFeed {
  readonly input: string;
  readonly type: FeedType;
  readonly dims: readonly number[];
  readonly data: FeedData;
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

/** Buffers to hand over to a worker without copying. */
export function transferList(feeds: readonly WireFeed[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const f of feeds) if (!Array.isArray(f.data)) out.push((f.data as Float32Array).buffer as ArrayBuffer);
  return out;
}
