import { describe, expect, it } from 'vitest';
import { errorLine, mlscale } from '../support/cli.js';
import { datasetFixture, onnxFixture } from '../support/paths.js';

describe('mlscale inspect', () => {
  it('shows types, opsets, producer, the ZipMap and how it is handled, and a ready model: block', async () => {
    const r = await mlscale(['inspect', onnxFixture('rf_iris.onnx')]);
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toContain('producer   skl2onnx 1.11.2, IR 7');
    expect(out).toContain('opsets     ai.onnx 9, ai.onnx.ml 1');
    expect(out).toContain('ops        Cast, ai.onnx.ml.TreeEnsembleClassifier, ai.onnx.ml.ZipMap');
    expect(out).toContain('  float_input: tensor(float)[?,4]');
    expect(out).toContain('  output_probability: seq(map(int64,tensor(float)))');
    expect(out).toContain(
      'zipmap     output_probability is a ZipMap (onnxruntime-node cannot return maps); mlscale removes it and scores its probabilities tensor, one column per class label: 0, 1, 2',
    );
    expect(out).toContain(
      `model:\n  path: ${onnxFixture('rf_iris.onnx')}\n  features: [float_input_0, float_input_1, float_input_2, float_input_3]   # source columns, in order\n  outputs:\n    output_label: { output: output_label }\n    probability_0: { output: output_probability, column: 0 }`,
    );
  });

  it('maps inputs that are not column names, and says a fixed batch is scored row by row', async () => {
    const r = await mlscale(['inspect', onnxFixture('coreml_OneHotEncoder_BikeSharing.onnx')]);
    expect(r.stdout).toContain('fixed batch size of 1: scored row by row');
    expect(r.stdout).toContain('  inputs:   # model input: [source columns]\n    "1": [1]\n    "3": [3]');
  });

  it('says why a model with a map input is refused', async () => {
    const r = await mlscale(['inspect', onnxFixture('SklearnDictVectorizer-OneOff-SkipDim1.model.onnx')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      'feeding    refused: input "input" is map(string,tensor(float)[1]), not a tensor; mlscale feeds tensors only',
    );
    expect(r.stdout).not.toContain('for a job file');
  });

  it('prints JSON with --json', async () => {
    const r = await mlscale(['inspect', onnxFixture('pipeline_titanic.onnx'), '--json']);
    const j = JSON.parse(r.stdout);
    expect(j.inputs.map((i: { name: string; elementType: string }) => `${i.name}:${i.elementType}`)).toEqual([
      'pclass:string',
      'sex:string',
      'age:float32',
      'fare:float32',
      'embarked:string',
    ]);
    expect(j.zipmaps).toEqual([{ output: 'output_probability', labels: ['0', '1'] }]);
    expect(j.columns.map((c: { column: string }) => c.column)).toEqual([
      'output_label',
      'probability_0',
      'probability_1',
    ]);
  });

  it('refuses a file that is not ONNX with exit 2', async () => {
    const r = await mlscale(['inspect', datasetFixture('iris.csv')]);
    expect(r.code).toBe(2);
    expect(errorLine(r)).toMatch(
      /^error: model: .*iris\.csv is not an ONNX model \(.+\); export it with an ONNX converter such as skl2onnx\.$/,
    );
  });
});
