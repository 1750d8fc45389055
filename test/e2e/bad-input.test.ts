import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, mlscale } from '../support/cli.js';
import { csvTable, writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';
import { datasetFixture, onnxFixture } from '../support/paths.js';

// Every bad input a user can hand mlscale: exit 2, one sentence naming the thing, no stack trace, nothing written.
const s = scratchDir('bad');
const out = path.join(s.dir, 'out', 'ds=2024-01-01');

const good = (over: Record<string, string> = {}) => {
  const v = {
    model: onnxFixture('test_xgb.onnx'),
    features: '[Sepal_Length, Sepal_Width, Petal_Length, Petal_Width]',
    source: 'iris/*.parquet',
    extra: '',
    ...over,
  };
  return `name: iris_scores
params:
  ds: "2024-01-01"
model:
  path: ${v.model}
  features: ${v.features}
source:
  parquet: { path: "${v.source}" }
key: [_index_]
sink:
  parquet: { path: "out/ds={{ ds }}" }
${v.extra}`;
};

beforeAll(() => {
  writeParquet(
    path.join(s.dir, 'iris', 'iris.parquet'),
    csvTable(datasetFixture('iris.csv'), {
      _index_: 'int',
      Sepal_Length: 'float',
      Sepal_Width: 'float',
      Petal_Length: 'float',
      Petal_Width: 'float',
    }),
  );
  mkdirSync(path.join(s.dir, 'notparquet'), { recursive: true });
  writeFileSync(path.join(s.dir, 'notparquet', 'iris.parquet'), 'Sepal_Length,Sepal_Width\n1,2\n');
  writeFileSync(path.join(s.dir, 'model.onnx'), 'this is not a model');
});
afterAll(() => s.remove());

async function expectUsage(args: string[], message: string | RegExp, env: NodeJS.ProcessEnv = {}) {
  const r = await mlscale(args, { env: { ...env }, cwd: s.dir });
  expect(r.code).toBe(2);
  if (typeof message === 'string') expect(errorLine(r)).toBe(`error: ${message}`);
  else expect(errorLine(r)).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).toBe('');
  expect(existsSync(out)).toBe(false);
  return r;
}

describe('bad input through the real CLI', () => {
  it('the good job works (so each failure below is the one thing changed)', async () => {
    const r = await mlscale(['score', '--job', s.file('good.yaml', good())], { cwd: s.dir });
    expect(errorLine(r)).toBe('');
    expect(r.code).toBe(0);
    expect(existsSync(path.join(out, '_SUCCESS'))).toBe(true);
    rmSync(path.join(s.dir, 'out'), { recursive: true });
  });

  it('missing job file', () =>
    expectUsage(['score', '--job', 'nope.yaml'], 'job file nope.yaml does not exist; check the --job path.'));

  it('job path is a directory', () =>
    expectUsage(['validate', '--job', 'iris'], 'job file iris is a directory; pass the path of a .yaml file.'));

  it('YAML syntax error, with line and column', () =>
    expectUsage(
      ['score', '--job', s.file('syntax.yaml', good().replace('key: [_index_]', 'key: [_index_'))],
      /^error: syntax\.yaml:\d+:\d+: YAML syntax error: .+; fix the YAML at that line\.$/,
    ));

  it('unknown key, with a suggestion', () =>
    expectUsage(
      ['score', '--job', s.file('unknown.yaml', good({ extra: 'batchsize: 10\n' }))],
      'unknown.yaml:12:1: batchsize: unknown key "batchsize" (did you mean "batch_size"?).',
    ));

  it('missing environment variable', () =>
    expectUsage(
      ['score', '--job', s.file('env.yaml', good({ source: '${FEATURES_DIR}/*.parquet' }))],
      'env.yaml: source.parquet.path: environment variable FEATURES_DIR is not set; export it or write ${FEATURES_DIR:-default}.',
    ));

  it('model file missing', () =>
    expectUsage(
      ['score', '--job', s.file('nomodel.yaml', good({ model: 'models/churn.onnx' }))],
      `model: ${path.join(s.dir, 'models', 'churn.onnx')} does not exist; check model.path (it is relative to the job file).`,
    ));

  it('model file that is not ONNX', () =>
    expectUsage(
      ['score', '--job', s.file('notonnx.yaml', good({ model: 'model.onnx' }))],
      /^error: model: .*model\.onnx is not an ONNX model \(.+\); export it with an ONNX converter such as skl2onnx\.$/,
    ));

  it('a model input no column feeds', () =>
    expectUsage(
      [
        'score',
        '--job',
        s.file(
          'unfed.yaml',
          good({ model: onnxFixture('pipeline_titanic_nozipmap.onnx'), features: '[]' }).replace(
            '  features: []\n',
            '',
          ),
        ),
      ],
      'model input "pclass" has no source column of that name (have: _index_, Sepal_Length, Sepal_Width, Petal_Length, Petal_Width); rename the column in the source or list model.features in input order.',
    ));

  it('a feature column absent from the source, listing the columns it has', () =>
    expectUsage(
      [
        'score',
        '--job',
        s.file('nocol.yaml', good({ features: '[Sepal_Length, Sepal_Width, Petal_Length, petal_width]' })),
      ],
      'source: column "petal_width" (feeds model input "X") not found (have: _index_, Sepal_Length, Sepal_Width, Petal_Length, Petal_Width); fix the name in the job or the source.',
    ));

  it('wrong number of features for a [N, 4] input', () =>
    expectUsage(
      ['score', '--job', s.file('count.yaml', good({ features: '[Sepal_Length, Sepal_Width]' }))],
      'model input "X" expects 4 features but model.features lists 2; list exactly 4 columns.',
    ));

  it('a Parquet path that matches nothing', () =>
    expectUsage(
      ['score', '--job', s.file('nofiles.yaml', good({ source: 'iris/ds={{ ds }}/*.parquet' }))],
      `source: ${path.join(s.dir, 'iris', 'ds=2024-01-01', '*.parquet')} matches no files; check source.parquet.path and the parameters in it (such as ds).`,
    ));

  it('a Parquet path that is not Parquet', () =>
    expectUsage(
      ['score', '--job', s.file('csv.yaml', good({ source: 'notparquet' }))],
      `source: ${path.join(s.dir, 'notparquet', 'iris.parquet')} is not a Parquet file (no PAR1 magic); point source.parquet.path at .parquet files only.`,
    ));

  it('a bad flag value', async () => {
    const r = await mlscale(['score', '--job', s.file('flag.yaml', good()), '--batch-size', '0'], { cwd: s.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "error: option '--batch-size <n>' argument '0' is invalid. --batch-size must be a positive whole number, got \"0\".",
    );
  });

  it('an unknown command', async () => {
    const r = await mlscale(['scroe'], { cwd: s.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: unknown command 'scroe'");
  });

  it('prints a stack trace only with --verbose', async () => {
    const r = await mlscale(['--verbose', 'score', '--job', 'nope.yaml'], { cwd: s.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  it('validate checks the same things and writes nothing', async () => {
    const ok = await mlscale(['validate', '--job', s.file('v.yaml', good())], { cwd: s.dir });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('job iris_scores is valid');
    expect(ok.stdout).toContain('inputs   X <- Sepal_Length, Sepal_Width, Petal_Length, Petal_Width (float32)');
    expect(existsSync(out)).toBe(false);
    await expectUsage(
      ['validate', '--job', s.file('v2.yaml', good({ features: '[a, b, c, d]' }))],
      /^error: source: column "a" \(feeds model input "X"\) not found/,
    );
  });
});
