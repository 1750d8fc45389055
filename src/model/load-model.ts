import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { skimModel } from './onnx-skim.js';
import { decodeModel, encodeModel, graphInfo, removeZipMaps, type GraphInfo, type ZipMapInfo } from './onnx-graph.js';

/** A model as mlscale runs it: the original's identity, and the bytes workers load (ZipMaps removed). */
export interface LoadedModel {
  readonly file: string;
  readonly sha256: string;
  /** The graph as exported, for `inspect`. */
  readonly original: GraphInfo;
  /** The graph as scored: ZipMap outputs replaced by their probability tensors. */
  readonly graph: GraphInfo;
  readonly zipmaps: readonly ZipMapInfo[];
  readonly runtimeBytes: Uint8Array;
}

/** Reads and decodes an ONNX file; a missing or non-ONNX file is a UsageError naming it. */
export async function loadModel(file: string): Promise<LoadedModel> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new UsageError(`model: ${file} does not exist; check model.path (it is relative to the job file).`, {
        code: 'model_missing',
      });
    if (code === 'EISDIR')
      throw new UsageError(`model: ${file} is a directory; model.path must name an .onnx file.`, {
        code: 'model_missing',
      });
    throw new UsageError(`model: ${file} cannot be read (${code}); check its permissions.`, {
      code: 'model_unreadable',
      cause: err,
    });
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const skimmed = skimModel(bytes);
  if (skimmed) {
    let light: ReturnType<typeof decodeModel> | undefined;
    try {
      light = decodeModel(skimmed, file);
    } catch {
      // The original's own decoding below says what is wrong with it.
    }
    if (light && !(light.graph?.node ?? []).some((n) => n.opType === 'ZipMap')) {
      const info = graphInfo(light);
      const runtimeBytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return { file, sha256, original: info, graph: info, zipmaps: [], runtimeBytes };
    }
  }
  const proto = decodeModel(bytes, file);
  const original = graphInfo(proto);
  const zipmaps = removeZipMaps(proto);
  const runtimeBytes =
    zipmaps.length > 0 ? encodeModel(proto) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { file, sha256, original, graph: zipmaps.length > 0 ? graphInfo(proto) : original, zipmaps, runtimeBytes };
}
