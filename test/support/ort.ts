import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';

/** Runs a model directly in onnxruntime-node: the reference mlscale's output is compared with. */
export async function ortRun(
  model: string | Uint8Array,
  feeds: Record<string, ort.Tensor>,
  fetch?: string[],
): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(typeof model === 'string' ? readFileSync(model) : model);
  try {
    return await session.run(feeds, fetch ?? session.outputNames);
  } finally {
    await session.release();
  }
}

export { ort };
