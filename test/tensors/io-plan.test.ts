import { beforeAll, describe, expect, it } from 'vitest';
import { Bool, DateDay, Field, Float32, Float64, Int32, Int64, Schema, Utf8, type DataType } from 'apache-arrow';
import type { ModelSpec } from '../../src/config/job.js';
import { UsageError } from '../../src/errors.js';
import { loadModel, type LoadedModel } from '../../src/model/load-model.js';
import { METADATA_NAMES } from '../../src/output/columns.js';
import { planIo, planOutputs } from '../../src/tensors/io-plan.js';
import { onnxFixture } from '../support/paths.js';

const models: Record<string, LoadedModel> = {};
const FILES = {
  rf: 'rf_iris.onnx',
  titanic: 'pipeline_titanic.onnx',
  titanicNoZip: 'pipeline_titanic_nozipmap.onnx',
  tutorial: 'tutorial_model.onnx',
  coreml: 'coreml_OneHotEncoder_BikeSharing.onnx',
  dict: 'SklearnDictVectorizer-OneOff-SkipDim1.model.onnx',
  treecl: 'treecl.onnx',
  lof: 'local_outlier_factor.onnx',
  binRf: 'SklearnBinRandomForestClassifier.model.onnx',
  mixed: 'SklearnPipelineScalerMixed-OneOff.model.onnx',
  xgb: 'test_xgb.onnx',
} as const;
type Name = keyof typeof FILES;

beforeAll(async () => {
  for (const [k, f] of Object.entries(FILES)) models[k] = await loadModel(onnxFixture(f));
});

type SpecParts = Partial<Pick<ModelSpec, 'features' | 'inputs' | 'outputs'>>;
const spec = (parts: SpecParts = {}): ModelSpec => ({
  path: 'model.onnx',
  name: 'm',
  providers: ['cpu'],
  intraOpThreads: 1,
  weight: 1,
  ...parts,
});
const schemaOf = (cols: Record<string, DataType>) =>
  new Schema(Object.entries(cols).map(([n, t]) => new Field(n, t, true)));

const iris = schemaOf({
  id: new Int64(),
  sepal_length: new Float64(),
  sepal_width: new Float64(),
  petal_length: new Float32(),
  petal_width: new Int32(),
  species: new Utf8(),
});
const irisFeatures = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
const titanic = schemaOf({
  id: new Int64(),
  pclass: new Int64(),
  sex: new Utf8(),
  age: new Float64(),
  fare: new Float64(),
  embarked: new Utf8(),
  boarded: new DateDay(),
});

const plan = (m: Name, parts: SpecParts, schema: Schema, keys: string[] = ['id'], label?: string) =>
  label === undefined
    ? planIo(spec(parts), keys, models[m]!, schema)
    : planIo(spec(parts), keys, models[m]!, schema, label);

/** The UsageError thrown by f: message and code. */
function usage(f: () => unknown): { message: string; code: string } {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    const e = err as UsageError;
    return { message: e.message, code: e.code };
  }
  throw new Error('expected a UsageError');
}

describe('planIo: one [N, F] input', () => {
  it('feeds the listed columns, in order, into the matrix input', () => {
    const p = plan('rf', { features: irisFeatures }, iris);
    expect(p.inputs).toEqual([{ input: 'float_input', type: 'float32', columns: irisFeatures, rank: 2 }]);
    expect(p.rowByRow).toBe(false);
    expect(p.warnings).toEqual([]);
  });

  it('needs features: for a wide input', () => {
    expect(usage(() => plan('rf', {}, iris))).toEqual({
      code: 'features_missing',
      message:
        'model input "float_input" takes 4 features as one [N, 4] tensor; list the source columns in order under model.features.',
    });
  });

  it('needs exactly as many features as the input is wide', () => {
    expect(usage(() => plan('rf', { features: irisFeatures.slice(0, 3) }, iris))).toEqual({
      code: 'features_count',
      message: 'model input "float_input" expects 4 features but model.features lists 3; list exactly 4 columns.',
    });
    expect(usage(() => plan('xgb', { features: [...irisFeatures, 'sepal_length'] }, iris)).message).toBe(
      'model input "X" expects 4 features but model.features lists 5; list exactly 4 columns.',
    );
  });

  it('takes any number of features when the width is not declared ([?, ?])', () => {
    const cols = Array.from({ length: 20 }, (_, i) => `f${i}`);
    const p = plan('treecl', { features: cols }, schemaOf(Object.fromEntries(cols.map((c) => [c, new Float32()]))), []);
    expect(p.inputs).toEqual([{ input: 'input', type: 'float32', columns: cols, rank: 2 }]);
  });

  it('names a feature column the source lacks, and a key column', () => {
    expect(
      usage(() => plan('rf', { features: ['sepal_length', 'sepal_width', 'petal_length', 'petal'] }, iris)),
    ).toEqual({
      code: 'column_missing',
      message:
        'source: column "petal" (feeds model input "float_input") not found (have: id, sepal_length, sepal_width, petal_length, petal_width, species); fix the name in the job or the source.',
    });
    expect(usage(() => plan('rf', { features: irisFeatures }, iris, ['row_id']))).toEqual({
      code: 'column_missing',
      message:
        'source: column "row_id" (a key column) not found (have: id, sepal_length, sepal_width, petal_length, petal_width, species); fix the name in the job or the source.',
    });
  });

  it('refuses a column whose type cannot feed the input', () => {
    expect(
      usage(() => plan('rf', { features: ['sepal_length', 'sepal_width', 'petal_length', 'species'] }, iris)),
    ).toEqual({
      code: 'column_type',
      message:
        'source: column "species" has type Utf8 and cannot feed model input "float_input" (float32); cast it in the source or pick another column.',
    });
  });

  it('shortens the column list in messages past 30 columns', () => {
    const wide = schemaOf(Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`c${i}`, new Float64()])));
    const have = Array.from({ length: 30 }, (_, i) => `c${i}`).join(', ');
    expect(usage(() => plan('rf', { features: ['c0', 'c1', 'c2', 'x'] }, wide, [])).message).toBe(
      `source: column "x" (feeds model input "float_input") not found (have: ${have}, … 3 more); fix the name in the job or the source.`,
    );
  });
});

describe('planIo: one input per column', () => {
  it('feeds each input from the column of its name, whatever the column order', () => {
    const p = plan('titanic', {}, titanic);
    expect(p.inputs).toEqual([
      { input: 'pclass', type: 'string', columns: ['pclass'], rank: 2 },
      { input: 'sex', type: 'string', columns: ['sex'], rank: 2 },
      { input: 'age', type: 'float32', columns: ['age'], rank: 2 },
      { input: 'fare', type: 'float32', columns: ['fare'], rank: 2 },
      { input: 'embarked', type: 'string', columns: ['embarked'], rank: 2 },
    ]);
  });

  it('feeds inputs in input order from features: when the names differ', () => {
    const s = schemaOf({ c: new Utf8(), s: new Utf8(), a: new Float64(), f: new Float32(), e: new Utf8() });
    const p = plan('titanic', { features: ['c', 's', 'a', 'f', 'e'] }, s, []);
    expect(p.inputs.map((i) => [i.input, i.columns])).toEqual([
      ['pclass', ['c']],
      ['sex', ['s']],
      ['age', ['a']],
      ['fare', ['f']],
      ['embarked', ['e']],
    ]);
  });

  it('names an input with no column of its name', () => {
    const { fare: _fare, ...rest } = Object.fromEntries(titanic.fields.map((f) => [f.name, f.type]));
    expect(usage(() => plan('titanic', {}, schemaOf(rest)))).toEqual({
      code: 'input_unfed',
      message:
        'model input "fare" has no source column of that name (have: id, pclass, sex, age, embarked, boarded); rename the column in the source or list model.features in input order.',
    });
  });

  it('needs one feature per input', () => {
    expect(usage(() => plan('titanic', { features: ['pclass', 'sex'] }, titanic))).toEqual({
      code: 'features_count',
      message:
        'model.features lists 2 columns but the model has 5 inputs (pclass, sex, age, fare, embarked); list one column per input, in input order, or map them under model.inputs.',
    });
  });

  it('checks each column against its input type: numbers feed strings, strings do not feed numbers, dates feed nothing', () => {
    // pclass is an int64 column feeding a string input: allowed (cast to text).
    expect(plan('titanic', {}, titanic).inputs[0]!.type).toBe('string');
    const s = schemaOf({
      pclass: new Utf8(),
      sex: new Utf8(),
      age: new Float64(),
      fare: new Float64(),
      embarked: new Utf8(),
    });
    expect(usage(() => plan('titanicNoZip', {}, s, [])).message).toBe(
      'source: column "pclass" has type Utf8 and cannot feed model input "pclass" (int64); cast it in the source or pick another column.',
    );
    const d = schemaOf({
      pclass: new DateDay(),
      sex: new Utf8(),
      age: new Float64(),
      fare: new Float64(),
      embarked: new Utf8(),
    });
    expect(usage(() => plan('titanic', {}, d, [])).message).toBe(
      'source: column "pclass" has type Date32<DAY> and cannot feed model input "pclass" (string); cast it in the source or pick another column.',
    );
    const b = schemaOf({
      pclass: new Int64(),
      sex: new Bool(),
      age: new Bool(),
      fare: new Float64(),
      embarked: new Utf8(),
    });
    expect(plan('titanicNoZip', {}, b, []).inputs.map((i) => i.type)).toEqual([
      'int64',
      'string',
      'float32',
      'float32',
      'string',
    ]);
  });

  it('refuses a wide input among several, unless inputs: maps it', () => {
    const s = schemaOf({ a: new Float64(), b: new Float64(), text: new Utf8() });
    expect(usage(() => plan('tutorial', {}, s, []))).toEqual({
      code: 'features_missing',
      message:
        'model input "input" takes several columns (tensor(float)[?,2]) and the model has other inputs too; map each input to its columns under model.inputs.',
    });
    const p = plan('tutorial', { inputs: { input: ['a', 'b'] } }, s, []);
    expect(p.inputs).toEqual([
      { input: 'input', type: 'float32', columns: ['a', 'b'], rank: 2 },
      { input: 'text', type: 'string', columns: ['text'], rank: 2 },
    ]);
  });

  it('feeds rank-1 inputs of a fixed batch of 1, row by row, with a warning', () => {
    const s = schemaOf(Object.fromEntries(['1', '2', '3', '4', '5', '6', '7', '8'].map((n) => [n, new Int64()])));
    const p = plan('coreml', {}, s, []);
    // Inputs keep the model's (out of order) declaration order.
    expect(p.inputs.map((i) => i.input)).toEqual(['1', '3', '2', '5', '4', '7', '6', '8']);
    expect(p.inputs.every((i) => i.rank === 1 && i.type === 'int64' && i.columns.length === 1)).toBe(true);
    expect(p.rowByRow).toBe(true);
    expect(p.warnings).toEqual([
      'model declares a fixed batch size of 1; scoring row by row, which is much slower than batches (re-export with a dynamic batch dimension).',
    ]);
  });

  it('refuses a model with a non-tensor input', () => {
    expect(usage(() => plan('dict', {}, schemaOf({ input: new Float64() }), []))).toEqual({
      code: 'model_input_type',
      message:
        'model input "input" is map(string,tensor(float)[1]), not a tensor; mlscale feeds tensors only, so re-export the model with one tensor input per column.',
    });
  });
});

describe('planIo: inputs: mapping', () => {
  it('maps some inputs to columns and feeds the rest by name', () => {
    const s = schemaOf({ ...Object.fromEntries(titanic.fields.map((f) => [f.name, f.type])), price: new Float64() });
    const p = plan('titanic', { inputs: { fare: ['price'], sex: ['embarked'] } }, s);
    expect(p.inputs.map((i) => [i.input, i.columns, i.rank])).toEqual([
      ['pclass', ['pclass'], 2],
      ['sex', ['embarked'], 2],
      ['age', ['age'], 2],
      ['fare', ['price'], 2],
      ['embarked', ['embarked'], 2],
    ]);
  });

  it('names an unknown input, using the label', () => {
    expect(usage(() => plan('titanic', { inputs: { nope: ['age'] } }, titanic, ['id'], 'models[1]'))).toEqual({
      code: 'input_unknown',
      message:
        'models[1].inputs: the model has no input "nope" (have: pclass, sex, age, fare, embarked); use the names mlscale inspect shows.',
    });
  });

  it('names an unmapped input with no column of its name', () => {
    const s = schemaOf({
      pclass: new Utf8(),
      sex: new Utf8(),
      fare: new Float64(),
      embarked: new Utf8(),
      x: new Float64(),
    });
    expect(usage(() => plan('titanic', { inputs: { fare: ['x'] } }, s, []))).toEqual({
      code: 'input_unfed',
      message:
        'model input "age" has no source column of that name (have: pclass, sex, fare, embarked, x); map it under model.inputs.',
    });
  });

  it('checks the column count against the input width and rank', () => {
    expect(usage(() => plan('titanic', { inputs: { age: ['age', 'fare'] } }, titanic))).toEqual({
      code: 'features_count',
      message: 'model.inputs.age: model input "age" expects 1 columns but 2 are listed; list exactly 1.',
    });
    const s = schemaOf({ a: new Float64(), b: new Float64(), c: new Float64(), text: new Utf8() });
    expect(usage(() => plan('tutorial', { inputs: { input: ['a', 'b', 'c'] } }, s, [])).message).toBe(
      'model.inputs.input: model input "input" expects 2 columns but 3 are listed; list exactly 2.',
    );
    const ints = schemaOf(
      Object.fromEntries(['1', '2', '3', '4', '5', '6', '7', '8', 'x'].map((n) => [n, new Int64()])),
    );
    expect(usage(() => plan('coreml', { inputs: { '1': ['1', 'x'] } }, ints, []))).toEqual({
      code: 'features_count',
      message: 'model.inputs.1: model input "1" is tensor(int64)[1], one value per row; list one column.',
    });
  });

  it('checks mapped columns exist and have a usable type', () => {
    expect(usage(() => plan('titanic', { inputs: { fare: ['cost'] } }, titanic)).message).toBe(
      'source: column "cost" (feeds model input "fare") not found (have: id, pclass, sex, age, fare, embarked, boarded); fix the name in the job or the source.',
    );
    expect(usage(() => plan('titanic', { inputs: { fare: ['sex'] } }, titanic)).code).toBe('column_type');
  });
});

describe('planOutputs: column naming', () => {
  it('names ZipMap probabilities by class label, and 1-D outputs by their name', () => {
    const p = plan('rf', { features: irisFeatures }, iris);
    expect(p.outputs).toEqual([
      { column: 'output_label', output: 'output_label', sqlType: 'bigint' },
      { column: 'probability_0', output: 'output_probability', index: 0, sqlType: 'double precision' },
      { column: 'probability_1', output: 'output_probability', index: 1, sqlType: 'double precision' },
      { column: 'probability_2', output: 'output_probability', index: 2, sqlType: 'double precision' },
    ]);
    expect(p.fetch).toEqual(['output_label', 'output_probability']);
  });

  it('sanitizes string class labels and string outputs', () => {
    const p = plan('binRf', { features: ['a', 'b'] }, schemaOf({ a: new Float32(), b: new Float32() }), []);
    expect(p.outputs).toEqual([
      { column: 'label', output: 'label', sqlType: 'text' },
      { column: 'probability_a', output: 'probabilities', index: 0, sqlType: 'double precision' },
      { column: 'probability_b', output: 'probabilities', index: 1, sqlType: 'double precision' },
    ]);
    expect(p.rowByRow).toBe(true);
  });

  it('numbers the columns of a 2-D output without ZipMap, and keeps [N, 1] outputs as one column', () => {
    const s = schemaOf({
      pclass: new Int64(),
      sex: new Utf8(),
      age: new Float64(),
      fare: new Float64(),
      embarked: new Utf8(),
    });
    expect(plan('titanicNoZip', {}, s, []).outputs).toEqual([
      { column: 'label', output: 'label', sqlType: 'bigint' },
      { column: 'probabilities_0', output: 'probabilities', index: 0, sqlType: 'double precision' },
      { column: 'probabilities_1', output: 'probabilities', index: 1, sqlType: 'double precision' },
    ]);
    expect(plan('lof', { features: ['a', 'b'] }, schemaOf({ a: new Float64(), b: new Float64() }), []).outputs).toEqual(
      [
        { column: 'label', output: 'label', sqlType: 'bigint' },
        { column: 'scores', output: 'scores', sqlType: 'double precision' },
      ],
    );
    const coreml = plan(
      'coreml',
      {},
      schemaOf(Object.fromEntries(['1', '2', '3', '4', '5', '6', '7', '8'].map((n) => [n, new Int64()]))),
      [],
    );
    expect(coreml.outputs.length).toBe(57);
    expect(coreml.outputs[0]).toEqual({
      column: 'transformed_features_0',
      output: 'transformed_features',
      index: 0,
      sqlType: 'double precision',
    });
    expect(coreml.outputs[56]!.column).toBe('transformed_features_56');
    const mixed = plan('mixed', {}, schemaOf({ input1: new Int64(), input2: new Float32() }), []);
    expect(mixed.outputs.map((o) => o.column)).toEqual(['variable1_0', 'variable1_1']);
  });

  it('skips an output of unknown width with a warning, and fails when nothing is left', () => {
    const cols = Array.from({ length: 20 }, (_, i) => `f${i}`);
    const s = schemaOf(Object.fromEntries(cols.map((c) => [c, new Float32()])));
    const p = plan('treecl', { features: cols }, s, []);
    expect(p.outputs).toEqual([{ column: 'label_0', output: 'label_0', sqlType: 'bigint' }]);
    expect(p.warnings).toEqual([
      'model outputs not written: proba_0 (tensor(float)[?,?]: unknown number of columns; map it under model.outputs with column: N).',
    ]);
    // Only the unknown-width output left: planOutputs alone, with a graph reduced to it.
    const only = { ...models.treecl!, graph: { ...models.treecl!.graph, outputs: [models.treecl!.graph.outputs[1]!] } };
    const warnings: string[] = [];
    expect(usage(() => planOutputs({}, only, warnings, 'model'))).toEqual({
      code: 'output_missing',
      message:
        'model: no tensor output can be written (proba_0 (tensor(float)[?,?]: unknown number of columns; map it under model.outputs with column: N)); map one under model.outputs.',
    });
  });
});

describe('planOutputs: outputs: mapping', () => {
  const rf = (outputs: NonNullable<ModelSpec['outputs']>, label?: string) =>
    plan('rf', { features: irisFeatures, outputs }, iris, ['id'], label);

  it('writes the mapped outputs under the given names and fetches each output once', () => {
    const p = rf({
      label: { output: 'output_label' },
      p_setosa: { output: 'output_probability', column: 0 },
      p_virginica: { output: 'output_probability', column: 2 },
    });
    expect(p.outputs).toEqual([
      { column: 'label', output: 'output_label', sqlType: 'bigint' },
      { column: 'p_setosa', output: 'output_probability', index: 0, sqlType: 'double precision' },
      { column: 'p_virginica', output: 'output_probability', index: 2, sqlType: 'double precision' },
    ]);
    expect(p.fetch).toEqual(['output_label', 'output_probability']);
  });

  it('names an unknown output', () => {
    expect(usage(() => rf({ score: { output: 'probability' } }))).toEqual({
      code: 'output_missing',
      message:
        'model.outputs.score: the model has no output "probability" (have: output_label, output_probability); use one of those names.',
    });
  });

  it('refuses column: on a 1-D output, out of range, or missing on a 2-D output', () => {
    expect(usage(() => rf({ label: { output: 'output_label', column: 0 } }))).toEqual({
      code: 'output_column',
      message: 'model.outputs.label: output "output_label" is one value per row (tensor(int64)[?]); remove column:.',
    });
    expect(usage(() => rf({ p: { output: 'output_probability', column: 3 } }))).toEqual({
      code: 'output_column',
      message:
        'model.outputs.p: column 3 is out of range for output "output_probability" (tensor(float)[N,3], columns 0..2).',
    });
    expect(usage(() => rf({ p: { output: 'output_probability' } }, 'models[0]'))).toEqual({
      code: 'output_column',
      message:
        'models[0].outputs.p: output "output_probability" has several columns (tensor(float)[N,3]); pick one with column: N.',
    });
  });

  it('accepts column: 0 on an [N, 1] output, and any column when the width is unknown', () => {
    const lof = plan(
      'lof',
      { features: ['a', 'b'], outputs: { s: { output: 'scores', column: 0 } } },
      schemaOf({ a: new Float64(), b: new Float64() }),
      [],
    );
    expect(lof.outputs).toEqual([{ column: 's', output: 'scores', index: 0, sqlType: 'double precision' }]);
    const cols = Array.from({ length: 20 }, (_, i) => `f${i}`);
    const tree = plan(
      'treecl',
      { features: cols, outputs: { p7: { output: 'proba_0', column: 7 } } },
      schemaOf(Object.fromEntries(cols.map((c) => [c, new Float32()]))),
      [],
    );
    expect(tree.outputs).toEqual([{ column: 'p7', output: 'proba_0', index: 7, sqlType: 'double precision' }]);
    expect(tree.warnings).toEqual([]);
  });
});

describe('planIo: output columns must not clash', () => {
  const clash = (column: string, label = 'model') =>
    `${label}.outputs: column "${column}" clashes with a key or metadata column; give the prediction another name under model.outputs.`;

  it('refuses a prediction column named like a key column', () => {
    const s = schemaOf({ ...Object.fromEntries(iris.fields.map((f) => [f.name, f.type])), output_label: new Int64() });
    expect(usage(() => plan('rf', { features: irisFeatures }, s, ['output_label']))).toEqual({
      code: 'output_clash',
      message: clash('output_label'),
    });
    expect(usage(() => plan('rf', { features: irisFeatures }, s, ['id', 'output_label'], 'models[2]')).message).toBe(
      clash('output_label', 'models[2]'),
    );
  });

  it('refuses every metadata column name', () => {
    expect(METADATA_NAMES).toEqual(['model_name', 'model_version', 'partition', 'run_id', 'scored_at']);
    for (const name of METADATA_NAMES)
      expect(
        usage(() => plan('rf', { features: irisFeatures, outputs: { [name]: { output: 'output_label' } } }, iris))
          .message,
      ).toBe(clash(name));
  });

  it('allows a source column that is not a key to share a prediction name', () => {
    const s = schemaOf({ ...Object.fromEntries(iris.fields.map((f) => [f.name, f.type])), output_label: new Int64() });
    expect(plan('rf', { features: irisFeatures }, s, ['id']).outputs[0]!.column).toBe('output_label');
  });
});
