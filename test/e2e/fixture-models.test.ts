import { execSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Table, makeVector, vectorFromArray, Int64 } from 'apache-arrow';
import { loadModel } from '../../src/model/load-model.js';
import { errorLine, mlscale } from '../support/cli.js';
import { csvTable, readParquetTable, writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';
import { ort, ortRun } from '../support/ort.js';
import { datasetFixture, onnxFixture } from '../support/paths.js';

// Every model in ../shared/fixtures/onnx through the real CLI, with a dataset that fits it: the
// written columns match onnxruntime's own tensors to 1e-6 (for ZipMap models, the tensor the
// ZipMap would have wrapped into maps, and the label the original graph returns), or the
// refusal is asserted word for word.
const s = scratchDir('fixtures');
let iris: Table;
let titanic: Table;
let wide: Table;
let bikes: Table;
const IRIS4 = ['Sepal_Length', 'Sepal_Width', 'Petal_Length', 'Petal_Width'];
const IRIS2 = IRIS4.slice(0, 2);

beforeAll(() => {
  iris = csvTable(datasetFixture('iris.csv'), {
    _index_: 'int',
    Sepal_Length: 'float',
    Sepal_Width: 'float',
    Petal_Length: 'float',
    Petal_Width: 'float',
    Species: 'string',
  });
  writeParquet(path.join(s.dir, 'iris', 'iris.parquet'), iris, 64);
  titanic = csvTable(
    datasetFixture('titanic3.csv'),
    { pclass: 'int', sex: 'string', age: 'float', fare: 'float', embarked: 'string' },
    { rowId: 'row_id' },
  );
  writeParquet(path.join(s.dir, 'titanic', 'titanic.parquet'), titanic, 500);
  // treecl reads 20 features; nothing public ships its training data, so feed seeded uniform values.
  const cols: Record<string, ReturnType<typeof makeVector>> = {
    id: makeVector(Int32Array.from({ length: 200 }, (_, i) => i)),
  };
  for (let f = 0; f < 20; f++)
    cols[`f${f}`] = makeVector(Float32Array.from({ length: 200 }, (_, i) => ((i * 7919 + f * 104729) % 1000) / 1000));
  wide = new Table(cols);
  writeParquet(path.join(s.dir, 'wide', 'wide.parquet'), wide);
  // The CoreML bike-sharing encoder takes 8 categorical int64 codes.
  const b: Record<string, ReturnType<typeof vectorFromArray>> = {};
  for (let c = 1; c <= 8; c++)
    b[`c${c}`] = vectorFromArray(
      Array.from({ length: 30 }, (_, i) => BigInt((i * c) % 5)),
      new Int64(),
    );
  bikes = new Table(b);
  writeParquet(path.join(s.dir, 'bikes', 'bikes.parquet'), bikes);
});
afterAll(() => s.remove());

async function score(name: string, model: string, data: string, lines: string) {
  const job = s.file(
    `${name}.yaml`,
    `name: ${name}\nparams: { ds: "2024-01-01" }\nmodel:\n  path: ${onnxFixture(model)}\n${lines}\nsource:\n  parquet: { path: ${data} }\nbatch_size: 64\nparallelism: 2\nsink:\n  parquet: { path: out/${name} }\n`,
  );
  const r = await mlscale(['score', '--job', job], { cwd: s.dir });
  return { r, job };
}

async function scored(name: string, model: string, data: string, lines: string): Promise<{ t: Table; stderr: string }> {
  const { r } = await score(name, model, data, lines);
  expect(errorLine(r)).toBe('');
  expect(r.code).toBe(0);
  const dir = path.join(s.dir, 'out', name);
  const parts = readdirSync(dir)
    .filter((f) => f.endsWith('.parquet'))
    .sort();
  const tables = parts.map((p) => readParquetTable(path.join(dir, p)));
  return { t: tables.length === 1 ? tables[0]! : tables[0]!.concat(...tables.slice(1)), stderr: r.stderr };
}

const col = (t: Table, c: string) => Array.from(t.getChild(c)!, (v) => (typeof v === 'bigint' ? Number(v) : v));
function matrix(t: Table, columns: string[], rows = t.numRows): Float32Array {
  const out = new Float32Array(rows * columns.length);
  columns.forEach((c, f) => {
    const v = t.getChild(c)!;
    for (let r = 0; r < rows; r++) out[r * columns.length + f] = (v.get(r) as number | null) ?? NaN;
  });
  return out;
}
function close(got: unknown[], want: ArrayLike<number>) {
  expect(got.length).toBe(want.length);
  got.forEach((v, i) => expect(Math.abs((v as number) - want[i]!)).toBeLessThan(1e-6));
}
async function zipmapReference(model: string, feeds: Record<string, ort.Tensor>, label: string, probs: string) {
  const original = await ortRun(onnxFixture(model), feeds, [label]);
  const rewritten = await ortRun((await loadModel(onnxFixture(model))).runtimeBytes, feeds, [probs]);
  return {
    labels: Array.from(original[label]!.data as ArrayLike<unknown>, (v) => (typeof v === 'bigint' ? Number(v) : v)),
    probs: rewritten[probs]!.data as Float32Array,
    k: rewritten[probs]!.dims[1]!,
  };
}

describe('fixture models through the real CLI', () => {
  const zipmapIris = [
    ['rf_iris.onnx', IRIS4, 'float_input'],
    ['logreg_iris.onnx', IRIS2, 'X'],
    ['pipeline_lightgbm.onnx', IRIS2, 'input'],
    ['pipeline_xgboost.onnx', IRIS2, 'input'],
  ] as const;
  it.each(zipmapIris)(
    '%s: ZipMap classifier on iris; label and per-class probabilities',
    async (model, features, input) => {
      const name = model.replace(/\W/g, '_');
      const { t, stderr } = await scored(name, model, 'iris', `  features: [${features.join(', ')}]\nkey: [_index_]`);
      expect(stderr).toContain('are ZipMaps; scoring their probability tensors instead');
      const ref = await zipmapReference(
        model,
        { [input]: new ort.Tensor('float32', matrix(iris, [...features]), [150, features.length]) },
        'output_label',
        'output_probability',
      );
      expect(col(t, 'output_label')).toEqual(ref.labels);
      for (let k = 0; k < ref.k; k++)
        close(
          col(t, `probability_${k}`),
          Array.from({ length: 150 }, (_, r) => ref.probs[r * ref.k + k]!),
        );
    },
  );

  it('SklearnBinRandomForestClassifier: fixed batch of 1, string labels, string-keyed ZipMap', async () => {
    const { t, stderr } = await scored(
      'binrf',
      'SklearnBinRandomForestClassifier.model.onnx',
      'iris',
      `  features: [${IRIS2.join(', ')}]`,
    );
    expect(stderr).toContain('fixed batch size of 1; scoring row by row');
    const m = matrix(iris, IRIS2);
    for (const r of [0, 60, 149]) {
      const ref = await zipmapReference(
        'SklearnBinRandomForestClassifier.model.onnx',
        { input: new ort.Tensor('float32', m.slice(r * 2, r * 2 + 2), [1, 2]) },
        'label',
        'probabilities',
      );
      expect(col(t, 'label')[r]).toBe(ref.labels[0]);
      close([col(t, 'probability_a')[r], col(t, 'probability_b')[r]], ref.probs);
    }
  });

  it('test_xgb.onnx: onnxmltools regressor, [N,1] output', async () => {
    const { t } = await scored('xgb', 'test_xgb.onnx', 'iris', `  features: [${IRIS4.join(', ')}]`);
    const ref = await ortRun(onnxFixture('test_xgb.onnx'), {
      X: new ort.Tensor('float32', matrix(iris, IRIS4), [150, 4]),
    });
    close(col(t, 'variable'), ref.variable!.data as Float32Array);
  });

  it('treecl.onnx: undeclared feature count is checked before scoring, then 20 features score', async () => {
    const { r } = await score('treecl4', 'treecl.onnx', 'iris', `  features: [${IRIS4.join(', ')}]`);
    expect(r.code).toBe(2);
    expect(errorLine(r)).toBe(
      'error: model input "input" does not declare its feature count and reads feature 19, so it needs at least 20 columns, but 4 are listed; list the columns the model was trained on, in order.',
    );
    const f20 = Array.from({ length: 20 }, (_, i) => `f${i}`);
    const { t, stderr } = await scored('treecl', 'treecl.onnx', 'wide', `  features: [${f20.join(', ')}]\nkey: [id]`);
    expect(stderr).toContain(
      'proba_0 (tensor(float)[?,?]: unknown number of columns; map it under model.outputs with column: N)',
    );
    const ref = await ortRun(onnxFixture('treecl.onnx'), {
      input: new ort.Tensor('float32', matrix(wide, f20), [200, 20]),
    });
    expect(col(t, 'label_0')).toEqual(Array.from(ref.label_0!.data as BigInt64Array, Number));
    const mapped = await scored(
      'treecl_p',
      'treecl.onnx',
      'wide',
      `  features: [${f20.join(', ')}]\n  outputs:\n    p1: { output: proba_0, column: 1 }`,
    );
    const k = ref.proba_0!.dims[1]!;
    close(
      col(mapped.t, 'p1'),
      Array.from({ length: 200 }, (_, r) => (ref.proba_0!.data as Float32Array)[r * k + 1]!),
    );
  });

  it('local_outlier_factor.onnx: [N,1] int64 and float outputs', async () => {
    const { t } = await scored('lof', 'local_outlier_factor.onnx', 'iris', `  features: [${IRIS2.join(', ')}]`);
    const ref = await ortRun(onnxFixture('local_outlier_factor.onnx'), {
      X: new ort.Tensor('float32', matrix(iris, IRIS2), [150, 2]),
    });
    expect(col(t, 'label')).toEqual(Array.from(ref.label!.data as BigInt64Array, Number));
    close(col(t, 'scores'), ref.scores!.data as Float32Array);
  });

  it('SklearnLinearRegression-Dec4: fixed batch of 1, scored row by row', async () => {
    const { t } = await scored(
      'linreg',
      'SklearnLinearRegression-Dec4.model.onnx',
      'iris',
      `  features: [${IRIS4.join(', ')}]`,
    );
    const m = matrix(iris, IRIS4);
    const want: number[] = [];
    for (let r = 0; r < 150; r++)
      want.push(
        (
          await ortRun(onnxFixture('SklearnLinearRegression-Dec4.model.onnx'), {
            input: new ort.Tensor('float32', m.slice(r * 4, r * 4 + 4), [1, 4]),
          })
        ).variable!.data[0] as number,
      );
    close(col(t, 'variable'), want);
  });

  it('SklearnPipelineScalerMixed-OneOff: an int64 and a float input fed positionally, [1,2] output as two columns', async () => {
    const { t } = await scored(
      'mixed',
      'SklearnPipelineScalerMixed-OneOff.model.onnx',
      'iris',
      '  features: [_index_, Sepal_Length]',
    );
    for (const r of [0, 99]) {
      const ref = await ortRun(onnxFixture('SklearnPipelineScalerMixed-OneOff.model.onnx'), {
        input1: new ort.Tensor('int64', BigInt64Array.from([iris.getChild('_index_')!.get(r) as bigint]), [1, 1]),
        input2: new ort.Tensor('float32', Float32Array.from([iris.getChild('Sepal_Length')!.get(r) as number]), [1, 1]),
      });
      close([col(t, 'variable1_0')[r], col(t, 'variable1_1')[r]], ref.variable1!.data as Float32Array);
    }
  });

  it('coreml_OneHotEncoder_BikeSharing: eight int64 inputs named "1".."8", mapped with inputs:', async () => {
    const map = Array.from({ length: 8 }, (_, i) => `    "${i + 1}": [c${i + 1}]`).join('\n');
    const { t } = await scored('bikes', 'coreml_OneHotEncoder_BikeSharing.onnx', 'bikes', `  inputs:\n${map}`);
    expect(t.schema.fields.filter((f) => f.name.startsWith('transformed_features_')).length).toBe(57);
    for (const r of [0, 17]) {
      const feeds: Record<string, ort.Tensor> = {};
      for (let c = 1; c <= 8; c++)
        feeds[String(c)] = new ort.Tensor(
          'int64',
          BigInt64Array.from([bikes.getChild(`c${c}`)!.get(r) as bigint]),
          [1],
        );
      const ref = (await ortRun(onnxFixture('coreml_OneHotEncoder_BikeSharing.onnx'), feeds)).transformed_features!
        .data as Float32Array;
      close(
        Array.from({ length: 57 }, (_, k) => col(t, `transformed_features_${k}`)[r]),
        ref,
      );
    }
  });

  const titanicFeeds = (pclass: 'string' | 'int64') => {
    const n = titanic.numRows;
    const str = (c: string) =>
      Array.from({ length: n }, (_, r) => {
        const v = titanic.getChild(c)!.get(r);
        return v === null ? 'NaN' : String(v);
      });
    return {
      pclass:
        pclass === 'string'
          ? new ort.Tensor('string', str('pclass'), [n, 1])
          : new ort.Tensor(
              'int64',
              BigInt64Array.from({ length: n }, (_, r) => titanic.getChild('pclass')!.get(r) as bigint),
              [n, 1],
            ),
      sex: new ort.Tensor('string', str('sex'), [n, 1]),
      age: new ort.Tensor('float32', matrix(titanic, ['age']), [n, 1]),
      fare: new ort.Tensor('float32', matrix(titanic, ['fare']), [n, 1]),
      embarked: new ort.Tensor('string', str('embarked'), [n, 1]),
    };
  };

  it('pipeline_titanic.onnx: per-column string and float inputs, int pclass cast to string, ZipMap', async () => {
    const { t } = await scored('titanic', 'pipeline_titanic.onnx', 'titanic', 'key: [row_id]\non_null: { fill: .nan }');
    const ref = await zipmapReference(
      'pipeline_titanic.onnx',
      titanicFeeds('string'),
      'output_label',
      'output_probability',
    );
    expect(col(t, 'output_label')).toEqual(ref.labels);
    close(
      col(t, 'probability_1'),
      Array.from({ length: titanic.numRows }, (_, r) => ref.probs[r * 2 + 1]!),
    );
  });

  it('pipeline_titanic_nozipmap.onnx: int64 pclass, tensor outputs', async () => {
    const { t } = await scored(
      'titanic_nz',
      'pipeline_titanic_nozipmap.onnx',
      'titanic',
      'key: [row_id]\non_null: { fill: .nan }',
    );
    const ref = await ortRun(onnxFixture('pipeline_titanic_nozipmap.onnx'), titanicFeeds('int64'));
    expect(col(t, 'label')).toEqual(Array.from(ref.label!.data as BigInt64Array, Number));
    close(
      col(t, 'probabilities_0'),
      Array.from({ length: titanic.numRows }, (_, r) => (ref.probabilities!.data as Float32Array)[r * 2]!),
    );
  });

  it('tutorial_model.onnx: a [N,2] float input and a string input mapped with inputs:; refused when the locale is missing', async () => {
    const lines = `  inputs:\n    input: [Sepal_Length, Sepal_Width]\n    text: [Species]`;
    if (execSync('locale -a').toString().toLowerCase().includes('en_us.utf8')) {
      const { t } = await scored('tutorial', 'tutorial_model.onnx', 'iris', lines);
      const ref = await ortRun(onnxFixture('tutorial_model.onnx'), {
        input: new ort.Tensor('float32', matrix(iris, IRIS2), [150, 2]),
        text: new ort.Tensor('string', Array.from(iris.getChild('Species')!) as string[], [150, 1]),
      });
      expect(col(t, 'label')).toEqual(Array.from(ref.label!.data as BigInt64Array, Number));
    } else {
      const { r } = await score('tutorial', 'tutorial_model.onnx', 'iris', lines);
      expect(r.code).toBe(2);
      expect(errorLine(r)).toBe(
        `error: model: ${onnxFixture('tutorial_model.onnx')} uses StringNormalizer, which needs the en_US.UTF-8 locale on this machine; install it (Debian: apt-get install locales && localedef -i en_US -f UTF-8 en_US.UTF-8).`,
      );
    }
  });

  it('SklearnDictVectorizer-OneOff-SkipDim1: a map input is refused at validate', async () => {
    const job = s.file(
      'dv.yaml',
      `name: dv\nmodel:\n  path: ${onnxFixture('SklearnDictVectorizer-OneOff-SkipDim1.model.onnx')}\nsource:\n  parquet: { path: iris }\nsink:\n  parquet: { path: out/dv }\n`,
    );
    const r = await mlscale(['validate', '--job', job], { cwd: s.dir });
    expect(r.code).toBe(2);
    expect(errorLine(r)).toBe(
      'error: model input "input" is map(string,tensor(float)[1]), not a tensor; mlscale feeds tensors only, so re-export the model with one tensor input per column.',
    );
  });

  it('every fixture model is covered above', () => {
    const models = readdirSync(path.dirname(onnxFixture('x')))
      .filter((f) => f.endsWith('.onnx'))
      .sort();
    expect(models).toEqual([
      'SklearnBinRandomForestClassifier.model.onnx',
      'SklearnDictVectorizer-OneOff-SkipDim1.model.onnx',
      'SklearnLinearRegression-Dec4.model.onnx',
      'SklearnPipelineScalerMixed-OneOff.model.onnx',
      'coreml_OneHotEncoder_BikeSharing.onnx',
      'local_outlier_factor.onnx',
      'logreg_iris.onnx',
      'pipeline_lightgbm.onnx',
      'pipeline_titanic.onnx',
      'pipeline_titanic_nozipmap.onnx',
      'pipeline_xgboost.onnx',
      'rf_iris.onnx',
      'test_xgb.onnx',
      'treecl.onnx',
      'tutorial_model.onnx',
    ]);
  });
});
