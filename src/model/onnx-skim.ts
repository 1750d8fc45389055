// What the planner needs of a model is its interface (inputs, outputs, opsets, metadata, which ops it
// uses), never its weights. Decoding a whole tree ensemble with protobufjs turns every int64 of its
// node attributes into an object: about 0.1 s for a 60-tree forest, on the main thread, before the
// first row. skimModel copies the model's protobuf without the bulk (node attributes, initializer
// contents), so decoding the copy costs next to nothing. ZipMap nodes keep their attributes (the
// class labels); a model that has one is decoded whole anyway, to be rewritten.

import { varintBytes } from '../varint.js';

const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const NODE_OP_TYPE = 4;
const NODE_ATTRIBUTE = 5;
const TENSOR_NAME = 8;

class Malformed extends Error {}

interface Field {
  readonly number: number;
  /** The whole field, tag included, as it sits in the message. */
  readonly start: number;
  readonly end: number;
  /** Where a length-delimited field's payload starts (its end is `end`). */
  readonly payload: number;
  readonly wire: number;
}

function varint(buf: Uint8Array, at: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = at; i < buf.length && i < at + 10; i++) {
    const b = buf[i]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, i + 1];
    scale *= 128;
  }
  throw new Malformed('bad varint');
}

/** The fields of the message between `from` and `to`, in order. */
function fields(buf: Uint8Array, from: number, to: number): Field[] {
  const out: Field[] = [];
  let at = from;
  while (at < to) {
    const start = at;
    const [tag, next] = varint(buf, at);
    const wire = tag & 7;
    const number = Math.floor(tag / 8);
    let payload = next;
    if (wire === 0) at = varint(buf, next)[1];
    else if (wire === 1) at = next + 8;
    else if (wire === 5) at = next + 4;
    else if (wire === 2) {
      const [len, p] = varint(buf, next);
      payload = p;
      at = p + len;
    } else throw new Malformed(`wire type ${wire}`);
    if (number === 0 || at > to) throw new Malformed('field past the end');
    out.push({ number, start, end: at, payload, wire });
  }
  return out;
}

function tagBytes(number: number): number[] {
  return varintBytes(number * 8 + 2);
}

/** A length-delimited field `number` whose payload is the concatenation of `parts`. */
function message(number: number, parts: readonly Uint8Array[]): Uint8Array[] {
  const length = parts.reduce((n, p) => n + p.length, 0);
  return [Uint8Array.from([...tagBytes(number), ...varintBytes(length)]), ...parts];
}

function text(buf: Uint8Array, f: Field): string {
  return Buffer.from(buf.buffer, buf.byteOffset + f.payload, f.end - f.payload).toString('utf8');
}

function skimNode(buf: Uint8Array, node: Field): Uint8Array[] {
  const inner = fields(buf, node.payload, node.end);
  const op = inner.find((f) => f.number === NODE_OP_TYPE && f.wire === 2);
  if (op && text(buf, op) === 'ZipMap') return [buf.subarray(node.start, node.end)];
  const kept = inner.filter((f) => f.number !== NODE_ATTRIBUTE).map((f) => buf.subarray(f.start, f.end));
  return message(GRAPH_NODE, kept);
}

function skimInitializer(buf: Uint8Array, tensor: Field): Uint8Array[] {
  const name = fields(buf, tensor.payload, tensor.end).filter((f) => f.number === TENSOR_NAME);
  return message(
    GRAPH_INITIALIZER,
    name.map((f) => buf.subarray(f.start, f.end)),
  );
}

function skimGraph(buf: Uint8Array, graph: Field): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (const f of fields(buf, graph.payload, graph.end)) {
    if (f.number === GRAPH_NODE && f.wire === 2) parts.push(...skimNode(buf, f));
    else if (f.number === GRAPH_INITIALIZER && f.wire === 2) parts.push(...skimInitializer(buf, f));
    else parts.push(buf.subarray(f.start, f.end));
  }
  return message(MODEL_GRAPH, parts);
}

/**
 * The model's protobuf without node attributes (except ZipMap's) and without initializer contents
 * (names kept), or undefined when the bytes are not a well-formed protobuf message: the caller
 * then decodes the original, whose error says what is wrong.
 */
export function skimModel(buf: Uint8Array): Uint8Array | undefined {
  try {
    const parts: Uint8Array[] = [];
    for (const f of fields(buf, 0, buf.length)) {
      if (f.number === MODEL_GRAPH && f.wire === 2) parts.push(...skimGraph(buf, f));
      else parts.push(buf.subarray(f.start, f.end));
    }
    return Buffer.concat(parts);
  } catch (err) {
    if (err instanceof Malformed) return undefined;
    throw err;
  }
}
