// Builds small ONNX models from code (no Python, no download), deterministically from a seed:
// the demo's model, the benchmark's MLP and tree ensemble, and test models.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const A = onnx.AttributeProto.AttributeType;

/** mulberry32: a tiny seeded PRNG, so the same seed gives the same model and data everywhere. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function tensorInfo(name, elemType, dims) {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function floatInit(name, dims, values) {
  return { name, dims, dataType: FLOAT, floatData: Array.from(values) };
}

function attr(name, value) {
  if (typeof value === 'string') return { name, type: A.STRING, s: Buffer.from(value) };
  if (typeof value === 'number')
    return Number.isInteger(value) ? { name, type: A.INT, i: value } : { name, type: A.FLOAT, f: value };
  if (value.kind === 'ints') return { name, type: A.INTS, ints: value.values };
  if (value.kind === 'floats') return { name, type: A.FLOATS, floats: value.values };
  if (value.kind === 'strings') return { name, type: A.STRINGS, strings: value.values.map((s) => Buffer.from(s)) };
  if (value.kind === 'float') return { name, type: A.FLOAT, f: value.value };
  throw new Error(`attr ${name}: unsupported value`);
}

function model(graph, opsets = [{ domain: '', version: 17 }]) {
  const m = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'mlscale-scripts',
    producerVersion: '1',
    opsetImport: opsets,
    graph,
  });
  return onnx.ModelProto.encode(m).finish();
}

/** Logistic regression: score = sigmoid(X·w + b) as [N,1], label = score > 0.5 as int64 [N,1]. */
export function logisticModel({ weights, bias, inputName = 'features' }) {
  const f = weights.length;
  return model({
    name: 'logistic',
    node: [
      { opType: 'MatMul', input: [inputName, 'W'], output: ['z0'] },
      { opType: 'Add', input: ['z0', 'B'], output: ['z'] },
      { opType: 'Sigmoid', input: ['z'], output: ['score'] },
      { opType: 'Greater', input: ['score', 'half'], output: ['gt'] },
      { opType: 'Cast', input: ['gt'], output: ['label'], attribute: [attr('to', INT64)] },
    ],
    initializer: [floatInit('W', [f, 1], weights), floatInit('B', [1], [bias]), floatInit('half', [1], [0.5])],
    input: [tensorInfo(inputName, FLOAT, ['N', f])],
    output: [tensorInfo('score', FLOAT, ['N', 1]), tensorInfo('label', INT64, ['N', 1])],
  });
}

/** A ReLU MLP F → hidden... → 1 with seeded weights. */
export function mlpModel({ features, hidden = [64, 64], seed = 1 }) {
  const rand = rng(seed);
  const nodes = [];
  const inits = [];
  let prev = 'X';
  let width = features;
  const layers = [...hidden, 1];
  layers.forEach((h, i) => {
    const scale = Math.sqrt(2 / width);
    inits.push(
      floatInit(
        `W${i}`,
        [width, h],
        Array.from({ length: width * h }, () => (rand() * 2 - 1) * scale),
      ),
    );
    inits.push(
      floatInit(
        `B${i}`,
        [h],
        Array.from({ length: h }, () => (rand() * 2 - 1) * 0.1),
      ),
    );
    nodes.push({ opType: 'MatMul', input: [prev, `W${i}`], output: [`m${i}`] });
    const last = i === layers.length - 1;
    nodes.push({ opType: 'Add', input: [`m${i}`, `B${i}`], output: [last ? 'y' : `a${i}`] });
    if (!last) nodes.push({ opType: 'Relu', input: [`a${i}`], output: [`h${i}`] });
    prev = `h${i}`;
    width = h;
  });
  return model({
    name: 'mlp',
    node: nodes,
    initializer: inits,
    input: [tensorInfo('X', FLOAT, ['N', features])],
    output: [tensorInfo('y', FLOAT, ['N', 1])],
  });
}

/** The node and target attribute lists of a TreeEnsembleRegressor, empty. */
function emptyTrees() {
  const n = {
    treeids: [],
    nodeids: [],
    featureids: [],
    values: [],
    modes: [],
    truenodeids: [],
    falsenodeids: [],
    hitrates: [],
    missing: [],
  };
  return { n, t: { treeids: [], nodeids: [], ids: [], weights: [] } };
}

/** A TreeEnsembleRegressor of `trees` full binary trees of `depth`, random splits on features in [0,1). */
export function treeEnsembleModel({ features, trees = 100, depth = 6, seed = 2 }) {
  const rand = rng(seed);
  const { n, t } = emptyTrees();
  const internal = 2 ** depth - 1;
  const total = 2 ** (depth + 1) - 1;
  for (let tree = 0; tree < trees; tree++) {
    for (let id = 0; id < total; id++) {
      n.treeids.push(tree);
      n.nodeids.push(id);
      n.hitrates.push(1);
      n.missing.push(0);
      if (id < internal) {
        n.featureids.push(Math.floor(rand() * features));
        n.values.push(rand());
        n.modes.push('BRANCH_LEQ');
        n.truenodeids.push(2 * id + 1);
        n.falsenodeids.push(2 * id + 2);
      } else {
        n.featureids.push(0);
        n.values.push(0);
        n.modes.push('LEAF');
        n.truenodeids.push(0);
        n.falsenodeids.push(0);
        t.treeids.push(tree);
        t.nodeids.push(id);
        t.ids.push(0);
        t.weights.push((rand() * 2 - 1) / trees);
      }
    }
  }
  return treeRegressor(features, n, t, 'SUM');
}

/** A TreeEnsembleRegressor over X [N, features] with one target, y [N, 1]. */
function treeRegressor(features, n, t, aggregate) {
  const node = {
    opType: 'TreeEnsembleRegressor',
    domain: 'ai.onnx.ml',
    input: ['X'],
    output: ['y'],
    attribute: [
      attr('n_targets', 1),
      attr('aggregate_function', aggregate),
      attr('post_transform', 'NONE'),
      attr('nodes_treeids', { kind: 'ints', values: n.treeids }),
      attr('nodes_nodeids', { kind: 'ints', values: n.nodeids }),
      attr('nodes_featureids', { kind: 'ints', values: n.featureids }),
      attr('nodes_values', { kind: 'floats', values: n.values }),
      attr('nodes_modes', { kind: 'strings', values: n.modes }),
      attr('nodes_truenodeids', { kind: 'ints', values: n.truenodeids }),
      attr('nodes_falsenodeids', { kind: 'ints', values: n.falsenodeids }),
      attr('nodes_hitrates', { kind: 'floats', values: n.hitrates }),
      attr('nodes_missing_value_tracks_true', { kind: 'ints', values: n.missing }),
      attr('target_treeids', { kind: 'ints', values: t.treeids }),
      attr('target_nodeids', { kind: 'ints', values: t.nodeids }),
      attr('target_ids', { kind: 'ints', values: t.ids }),
      attr('target_weights', { kind: 'floats', values: t.weights }),
    ],
  };
  return model(
    {
      name: 'trees',
      node: [node],
      input: [tensorInfo('X', FLOAT, ['N', features])],
      output: [tensorInfo('y', FLOAT, ['N', 1])],
    },
    [
      { domain: '', version: 17 },
      { domain: 'ai.onnx.ml', version: 3 },
    ],
  );
}

/** The largest float32 not above x: a float32 feature is at most it exactly when it is at most x. */
function float32AtMost(x) {
  const f = new Float32Array([x]);
  if (f[0] > x) {
    const bits = new Int32Array(f.buffer);
    // Step one unit in the last place toward -infinity (a zero steps to the smallest negative).
    bits[0] = f[0] === 0 ? 0x80000001 | 0 : bits[0] + (f[0] > 0 ? -1 : 1);
  }
  return f[0];
}

/**
 * A fitted scikit-learn forest (scripts/peer/python_peer.py's JSON: each tree's children,
 * features, thresholds and leaf class-1 shares) as the ONNX model that gives its
 * predict_proba[:, 1]: the average of the trees' leaf shares, `x <= threshold` going left.
 */
export function forestModel({ features, trees }) {
  const { n, t } = emptyTrees();
  trees.forEach((tree, id) => {
    tree.left.forEach((left, node) => {
      const leaf = left === -1;
      n.treeids.push(id);
      n.nodeids.push(node);
      n.hitrates.push(1);
      n.missing.push(0);
      n.featureids.push(leaf ? 0 : tree.feature[node]);
      n.values.push(leaf ? 0 : float32AtMost(tree.threshold[node]));
      n.modes.push(leaf ? 'LEAF' : 'BRANCH_LEQ');
      n.truenodeids.push(leaf ? 0 : left);
      n.falsenodeids.push(leaf ? 0 : tree.right[node]);
      if (leaf) {
        t.treeids.push(id);
        t.nodeids.push(node);
        t.ids.push(0);
        t.weights.push(tree.p1[node]);
      }
    });
  });
  return treeRegressor(features, n, t, 'AVERAGE');
}
