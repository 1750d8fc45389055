import onnxProto from 'onnx-proto';
import { UsageError } from '../errors.js';

const { onnx } = onnxProto;
type ModelProto = InstanceType<typeof onnx.ModelProto>;
type TypeProto = onnxProto.onnx.ITypeProto;

const DATA_TYPE_NAMES: Record<number, string> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  14: 'complex64',
  15: 'complex128',
  16: 'bfloat16',
};

/** A graph input or output as the model declares it. Dims are numbers, or a name/"?" when symbolic. */
export interface ValueInfo {
  readonly name: string;
  readonly isTensor: boolean;
  readonly elementType?: string;
  readonly shape?: readonly (number | string)[];
  /** Human-readable type: tensor(float)[?,4], seq(map(int64,tensor(float))), ... */
  readonly typeText: string;
}

export interface ZipMapInfo {
  /** The graph output that was a ZipMap and is now the probabilities tensor [N, K]. */
  readonly output: string;
  readonly labels: readonly string[];
}

export interface GraphInfo {
  readonly irVersion: number;
  readonly producer: string;
  readonly opsets: readonly { domain: string; version: number }[];
  readonly ops: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly docString: string;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
}

/** Decodes ONNX bytes; anything that is not a model with a graph is a UsageError naming the file. */
export function decodeModel(bytes: Uint8Array, file: string): ModelProto {
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new UsageError(
      `model: ${file} is not an ONNX model (${(err as Error).message}); export it with an ONNX converter such as skl2onnx.`,
      { code: 'model_not_onnx', cause: err },
    );
  }
  if (!model.graph || (model.graph.node?.length ?? 0) === 0 || (model.graph.output?.length ?? 0) === 0) {
    throw new UsageError(
      `model: ${file} is not an ONNX model (no graph found); export it with an ONNX converter such as skl2onnx.`,
      { code: 'model_not_onnx' },
    );
  }
  return model;
}

function num(v: number | { toString(): string } | null | undefined): number {
  return v === null || v === undefined ? 0 : Number(v.toString());
}

export function describeType(t: TypeProto | null | undefined): string {
  if (!t) return 'unknown';
  if (t.tensorType) {
    const et = DATA_TYPE_NAMES[t.tensorType.elemType ?? 0] ?? 'unknown';
    const dims = t.tensorType.shape?.dim;
    const shape = dims
      ? `[${dims.map((d) => (d.dimParam ? d.dimParam : d.dimValue !== null && d.dimValue !== undefined && num(d.dimValue) > 0 ? String(num(d.dimValue)) : '?')).join(',')}]`
      : '';
    return `tensor(${et === 'float32' ? 'float' : et === 'float64' ? 'double' : et})${shape}`;
  }
  if (t.sequenceType) return `seq(${describeType(t.sequenceType.elemType)})`;
  if (t.mapType) return `map(${DATA_TYPE_NAMES[t.mapType.keyType ?? 0] ?? '?'},${describeType(t.mapType.valueType)})`;
  if (t.optionalType) return `optional(${describeType(t.optionalType.elemType)})`;
  if (t.sparseTensorType) return 'sparse_tensor';
  return 'unknown';
}

function valueInfo(v: onnxProto.onnx.IValueInfoProto): ValueInfo {
  const t = v.type;
  const tensor = t?.tensorType;
  if (!tensor) return { name: v.name ?? '', isTensor: false, typeText: describeType(t) };
  const shape = tensor.shape?.dim?.map((d) => (d.dimParam ? d.dimParam : num(d.dimValue) > 0 ? num(d.dimValue) : '?'));
  return {
    name: v.name ?? '',
    isTensor: true,
    elementType: DATA_TYPE_NAMES[tensor.elemType ?? 0] ?? 'unknown',
    ...(shape ? { shape } : {}),
    typeText: describeType(t),
  };
}

/** Everything `inspect` and the planner need to know about a decoded model. */
export function graphInfo(model: ModelProto): GraphInfo {
  const graph = model.graph!;
  const initializers = new Set((graph.initializer ?? []).map((i) => i.name));
  const ops = new Set<string>();
  for (const n of graph.node ?? [])
    ops.add(n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : (n.opType ?? '?'));
  return {
    irVersion: num(model.irVersion),
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' ') || '(none)',
    opsets: (model.opsetImport ?? []).map((o) => ({ domain: o.domain || 'ai.onnx', version: num(o.version) })),
    ops: [...ops].sort(),
    metadata: Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? ''])),
    docString: model.docString ?? '',
    inputs: (graph.input ?? []).filter((i) => !initializers.has(i.name)).map(valueInfo),
    outputs: (graph.output ?? []).map(valueInfo),
  };
}

/**
 * onnxruntime-node cannot return ZipMap outputs (sequences of maps). Rewrites the graph so each
 * ZipMap's input tensor [N, K] takes the ZipMap output's name, and records the class labels
 * the ZipMap carried, so probability columns can be named after them.
 */
export function removeZipMaps(model: ModelProto): ZipMapInfo[] {
  const graph = model.graph!;
  const found: ZipMapInfo[] = [];
  const outputNames = new Set((graph.output ?? []).map((o) => o.name));
  for (const node of [...(graph.node ?? [])]) {
    if (node.opType !== 'ZipMap') continue;
    const out = node.output?.[0];
    const src = node.input?.[0];
    if (!out || !src || !outputNames.has(out)) continue;
    const attr = (name: string) => node.attribute?.find((a) => a.name === name);
    const ints = attr('classlabels_int64s')?.ints ?? [];
    const strs = attr('classlabels_strings')?.strings ?? [];
    const labels = ints.length > 0 ? ints.map((i) => String(num(i))) : strs.map((s) => Buffer.from(s).toString('utf8'));
    graph.node = graph.node!.filter((n) => n !== node);
    // Rename the probabilities tensor to the ZipMap's output name everywhere it appears.
    for (const n of graph.node) {
      n.input = (n.input ?? []).map((x) => (x === src ? out : x));
      n.output = (n.output ?? []).map((x) => (x === src ? out : x));
    }
    for (const vi of graph.valueInfo ?? []) if (vi.name === src) vi.name = out;
    const target = graph.output!.find((o) => o.name === out)!;
    target.type = onnx.TypeProto.create({
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: [{ dimParam: 'N' }, labels.length > 0 ? { dimValue: labels.length } : { dimParam: 'K' }] },
      },
    });
    found.push({ output: out, labels });
  }
  return found;
}

export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}
