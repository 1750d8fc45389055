import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createSession } from '../../src/model/session.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Table } from 'apache-arrow';
import { parseJob } from '../../src/config/load-job.js';
import { runJob } from '../../src/run/run-job.js';
import { csvTable, readParquetTable, writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';
import { ort, ortRun } from '../support/ort.js';
import { datasetFixture, onnxFixture } from '../support/paths.js';
import { UsageError } from '../../src/errors.js';

const s = scratchDir('models');
let iris: Table;
let titanic: Table;
const IRIS = ['Sepal_Length', 'Sepal_Width', 'Petal_Length', 'Petal_Width'];

beforeAll(() => {
  iris = csvTable(datasetFixture('iris.csv'), { _index_: 'int', Sepal_Length: 'float', Sepal_Width: 'float', Petal_Length: 'float', Petal_Width: 'float' });
  writeParquet(path.join(s.dir, 'iris', 'iris.parquet'), iris, 64);
  titanic = csvTable(datasetFixture('titanic3.csv'), { pclass: 'int', sex: 'string', age: 'float', fare: 'float', embarked: 'string' }, { rowId: 'row_id' });
  writeParquet(path.join(s.dir, 'titanic', 'titanic.parquet'), titanic, 500);
});
afterAll(() => s.remove());

/** Scores `model` over `data` into Parquet with the given job lines, and returns the output table. */
async function score(name: string, model: string, data: string, extra: string, parallelism = 2): Promise<{ table: Table; warnings: readonly string[] }> {
  const text = `name: ${name}\nmodel:\n  path: ${onnxFixture(model)}\n${extra}\nsource:\n  parquet: { path: ${path.join(s.dir, data)} }\nparallelism: ${parallelism}\nbatch_size: 100\nsink:\n  parquet: { path: ${path.join(s.dir, 'out', name)} }\n`;
  const job = parseJob(text, path.join(s.dir, `${name}.yaml`), { params: { ds: '2024-01-01' } });
  const result = await runJob(job);
  return { table: readParquetTable(path.join(s.dir, 'out', name, 'part-00000.parquet')), warnings: result.warnings };
}

function irisMatrix(n = iris.numRows): Float32Array {
  const out = new Float32Array(n * 4);
  IRIS.forEach((c, f) => {
    const v = iris.getChild(c)!;
    for (let r = 0; r < n; r++) out[r * 4 + f] = v.get(r) as number;
  });
  return out;
}

const col = (t: Table, name: string) => Array.from(t.getChild(name)!, (v) => (typeof v === 'bigint' ? Number(v) : v));

describe('real converter models', () => {
  it('rf_iris.onnx (ZipMap): labels match onnxruntime, probabilities per class label agree with them', async () => {
    const { table, warnings } = await score('rf_iris', 'rf_iris.onnx', 'iris', '  features: [Sepal_Length, Sepal_Width, Petal_Length, Petal_Width]\nkey: [_index_]');
    expect(warnings.join(' ')).toContain('output_probability are ZipMaps');
    const ref = await ortRun(onnxFixture('rf_iris.onnx'), { float_input: new ort.Tensor('float32', irisMatrix(), [150, 4]) }, ['output_label']);
    expect(col(table, 'output_label')).toEqual(Array.from(ref.output_label!.data as BigInt64Array, Number));
    expect(col(table, '_index_')).toEqual(col(iris, '_index_'));
    const p = [0, 1, 2].map((k) => col(table, `probability_${k}`) as number[]);
    const labels = col(table, 'output_label') as number[];
    for (let r = 0; r < 150; r++) {
      expect(p[0]![r]! + p[1]![r]! + p[2]![r]!).toBeCloseTo(1, 5);
      const argmax = [0, 1, 2].reduce((a, b) => (p[b]![r]! > p[a]![r]! ? b : a), 0);
      expect(argmax).toBe(labels[r]);
    }
  });

  it('test_xgb.onnx (onnxmltools regressor, [N,1] output) matches onnxruntime to 1e-6', async () => {
    const { table } = await score('xgb', 'test_xgb.onnx', 'iris', '  features: [Sepal_Length, Sepal_Width, Petal_Length, Petal_Width]\nkey: [_index_]', 1);
    const ref = await ortRun(onnxFixture('test_xgb.onnx'), { X: new ort.Tensor('float32', irisMatrix(), [150, 4]) });
    const want = Array.from(ref.variable!.data as Float32Array);
    const got = col(table, 'variable') as number[];
    got.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThan(1e-6));
  });

  it('pipeline_titanic.onnx: per-column string and float inputs, int pclass cast to string, NaN imputed by the model', async () => {
    const { table } = await score('titanic_zip', 'pipeline_titanic.onnx', 'titanic', 'key: [row_id]\non_null: { fill: .nan }\n');
    expect(table.numRows).toBe(titanic.numRows);
    const rows = col(table, 'row_id') as number[];
    const pick = <T>(name: string, f: (v: unknown) => T) => rows.map((r) => f(titanic.getChild(name)!.get(r)));
    const n = rows.length;
    const ref = await ortRun(
      onnxFixture('pipeline_titanic.onnx'),
      {
        pclass: new ort.Tensor('string', pick('pclass', (v) => String(v)), [n, 1]),
        sex: new ort.Tensor('string', pick('sex', (v) => String(v)), [n, 1]),
        age: new ort.Tensor('float32', Float32Array.from(pick('age', (v) => (v === null ? NaN : (v as number)))), [n, 1]),
        fare: new ort.Tensor('float32', Float32Array.from(pick('fare', (v) => (v === null ? NaN : (v as number)))), [n, 1]),
        // The fill value .nan reaches a string input as "NaN": an unseen category, one-hot all zeros.
        embarked: new ort.Tensor('string', pick('embarked', (v) => (v === null ? 'NaN' : String(v))), [n, 1]),
      },
      ['output_label'],
    );
    expect(col(table, 'output_label')).toEqual(Array.from(ref.output_label!.data as BigInt64Array, Number));
  });

  it('local_outlier_factor.onnx: [N,1] int64 and float outputs become bigint and double columns', async () => {
    const { table } = await score('lof', 'local_outlier_factor.onnx', 'iris', '  features: [Sepal_Length, Sepal_Width]');
    const m = new Float32Array(300);
    for (let r = 0; r < 150; r++) {
      m[r * 2] = iris.getChild('Sepal_Length')!.get(r);
      m[r * 2 + 1] = iris.getChild('Sepal_Width')!.get(r);
    }
    const ref = await ortRun(onnxFixture('local_outlier_factor.onnx'), { X: new ort.Tensor('float32', m, [150, 2]) });
    expect(col(table, 'label')).toEqual(Array.from(ref.label!.data as BigInt64Array, Number));
    (col(table, 'scores') as number[]).forEach((v, i) => expect(Math.abs(v - (ref.scores!.data as Float32Array)[i]!)).toBeLessThan(1e-6));
  });

  it('SklearnLinearRegression-Dec4 (fixed batch of 1) is scored row by row, with a warning', async () => {
    const { table, warnings } = await score('linreg', 'SklearnLinearRegression-Dec4.model.onnx', 'iris', '  features: [Sepal_Length, Sepal_Width, Petal_Length, Petal_Width]');
    expect(warnings.join(' ')).toContain('fixed batch size of 1; scoring row by row');
    const m = irisMatrix();
    const got = col(table, 'variable') as number[];
    for (const r of [0, 77, 149]) {
      const ref = await ortRun(onnxFixture('SklearnLinearRegression-Dec4.model.onnx'), { input: new ort.Tensor('float32', m.slice(r * 4, r * 4 + 4), [1, 4]) });
      expect(Math.abs(got[r]! - (ref.variable!.data as Float32Array)[0]!)).toBeLessThan(1e-6);
    }
  });

  it('refuses a model with a map input at planning, naming the input', async () => {
    const job = parseJob(`name: dv\nmodel:\n  path: ${onnxFixture('SklearnDictVectorizer-OneOff-SkipDim1.model.onnx')}\nsource:\n  parquet: { path: ${path.join(s.dir, 'iris')} }\nsink:\n  parquet: { path: ${path.join(s.dir, 'out', 'dv')} }\n`, path.join(s.dir, 'dv.yaml'));
    await expect(runJob(job)).rejects.toMatchObject({
      constructor: UsageError,
      message: 'model input "input" is map(string,tensor(float)[1]), not a tensor; mlscale feeds tensors only, so re-export the model with one tensor input per column.',
    });
  });

  it('names the locale a StringNormalizer model needs instead of onnxruntime\'s raw error', async () => {
    const hasLocale = execSync('locale -a').toString().toLowerCase().includes('en_us.utf8');
    const bytes = readFileSync(onnxFixture('tutorial_model.onnx'));
    const created = createSession(bytes, 'tutorial_model.onnx', { providers: ['cpu'], intraOpThreads: 1 });
    if (hasLocale) await expect(created).resolves.toBeDefined();
    else {
      await expect(created).rejects.toMatchObject({
        constructor: UsageError,
        message: 'model: tutorial_model.onnx uses StringNormalizer, which needs the en_US.UTF-8 locale on this machine; install it (Debian: apt-get install locales && localedef -i en_US -f UTF-8 en_US.UTF-8).',
      });
    }
  });
});
