import path from 'node:path';
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Table } from 'apache-arrow';
import { errorLine, mlscale } from '../support/cli.js';
import { csvTable, readParquetTable, writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';
import { databaseUrl, query, skipPg, tempSchema } from '../support/pg.js';
import { datasetFixture, onnxFixture } from '../support/paths.js';

// Three real iris classifiers (skl2onnx LogisticRegression, XGBoost and LightGBM pipelines, all
// ZipMap exports on the first two features) combined three ways, checked against each one alone.
const s = scratchDir('multi');
const MODELS = { logreg: 'logreg_iris.onnx', xgb: 'pipeline_xgboost.onnx', lgbm: 'pipeline_lightgbm.onnx' } as const;
type Name = keyof typeof MODELS;
const modelBlock = (name: Name, extra = '') => `
  - name: ${name}
    path: ${onnxFixture(MODELS[name])}
    features: [Sepal_Length, Sepal_Width]
    outputs:
      p_setosa: { output: output_probability, column: 0 }
      p_versicolor: { output: output_probability, column: 1 }
      p_virginica: { output: output_probability, column: 2 }${extra}`;

const job = (name: string, body: string, sink = `parquet: { path: out/${name} }`) =>
  s.file(
    `${name}.yaml`,
    `name: ${name}\nparams: { ds: "2024-01-01" }\nsource:\n  parquet: { path: iris }\nkey: [_index_]\nbatch_size: 40\nparallelism: 2\nsink:\n  ${sink}\n${body}`,
  );

const single: Partial<Record<Name, Table>> = {};
const read = (name: string) => {
  const dir = path.join(s.dir, 'out', name);
  return readParquetTable(
    path.join(
      dir,
      readdirSync(dir).find((f) => f.endsWith('.parquet'))!,
    ),
  );
};
const col = (t: Table, c: string) =>
  Array.from(t.getChild(c)!, (v) => (typeof v === 'bigint' ? Number(v) : v)) as number[];
const PROBS = ['p_setosa', 'p_versicolor', 'p_virginica'];

beforeAll(async () => {
  writeParquet(
    path.join(s.dir, 'iris', 'iris.parquet'),
    csvTable(datasetFixture('iris.csv'), {
      _index_: 'int',
      Sepal_Length: 'float',
      Sepal_Width: 'float',
      Species: 'string',
    }),
    64,
  );
  for (const name of Object.keys(MODELS) as Name[]) {
    const r = await mlscale(['score', '--job', job(`one_${name}`, `models:${modelBlock(name)}\n`)], { cwd: s.dir });
    expect(errorLine(r)).toBe('');
    single[name] = read(`one_${name}`);
  }
});
afterAll(() => s.remove());

describe('many models in one job', () => {
  it('combine: mean is the per-column mean of each model alone', async () => {
    const r = await mlscale(
      [
        'score',
        '--job',
        job('mean3', `models:${modelBlock('logreg')}${modelBlock('xgb')}${modelBlock('lgbm')}\ncombine: mean\n`),
      ],
      { cwd: s.dir },
    );
    expect(errorLine(r)).toBe('');
    const t = read('mean3');
    expect(col(t, '_index_')).toEqual(col(single.logreg!, '_index_'));
    for (const p of PROBS) {
      const want = col(single.logreg!, p).map((v, i) => (v + col(single.xgb!, p)[i]! + col(single.lgbm!, p)[i]!) / 3);
      col(t, p).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 12));
    }
    expect(new Set(Array.from(t.getChild('model_name')!))).toEqual(new Set(['logreg+xgb+lgbm']));
  });

  it('combine: weighted uses each model weight', async () => {
    const r = await mlscale(
      [
        'score',
        '--job',
        job(
          'weighted',
          `models:${modelBlock('logreg', '\n    weight: 3')}${modelBlock('xgb', '\n    weight: 1')}\ncombine: weighted\n`,
        ),
      ],
      { cwd: s.dir },
    );
    expect(errorLine(r)).toBe('');
    const t = read('weighted');
    for (const p of PROBS) {
      const want = col(single.logreg!, p).map((v, i) => 0.75 * v + 0.25 * col(single.xgb!, p)[i]!);
      col(t, p).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 12));
    }
  });

  const routeBody = `models:${modelBlock('logreg')}${modelBlock('xgb')}${modelBlock('lgbm')}\ncombine: route\nroute_by: Species\nroutes: { setosa: logreg, versicolor: xgb }\ndefault_model: lgbm\n`;
  const expectedRoute = (species: string) =>
    (species === 'setosa' ? 'logreg' : species === 'versicolor' ? 'xgb' : 'lgbm') as Name;

  it('combine: route scores each row with the model its slice names, in source order, and tags the row', async () => {
    const r = await mlscale(['score', '--job', job('routed', routeBody)], { cwd: s.dir });
    expect(errorLine(r)).toBe('');
    const t = read('routed');
    const iris = readParquetTable(path.join(s.dir, 'iris', 'iris.parquet'));
    expect(col(t, '_index_')).toEqual(col(iris, '_index_'));
    const species = Array.from(iris.getChild('Species')!) as string[];
    const names = Array.from(t.getChild('model_name')!) as string[];
    species.forEach((sp, i) => {
      const m = expectedRoute(sp);
      expect(names[i]).toBe(m);
      for (const p of PROBS) expect(col(t, p)[i]).toBe(col(single[m]!, p)[i]);
    });
    // The run's partition and run id on every row, whatever model scored it (the Parquet sink
    // writes these constant columns' chunks itself: constant-columns.ts).
    for (const c of ['partition', 'run_id']) {
      const values = new Set(Array.from(t.getChild(c)!) as (string | null)[]);
      expect(values.size, c).toBe(1);
      expect([...values][0], c).toMatch(c === 'run_id' ? /^\d{8}T\d{6}Z-[0-9a-f]{6}$/ : /^\S+$/);
    }
  });

  it('routes rows with no route and no default to rejects, counted against max_reject_rate', async () => {
    const body = routeBody.replace('default_model: lgbm\n', '');
    const r = await mlscale(['score', '--job', job('unrouted', body)], { cwd: s.dir });
    expect(r.code).toBe(3);
    expect(errorLine(r)).toBe(
      'error: quality gate: 50 of 150 rows (33.33%) were rejected (missing feature values, no route or non-finite predictions), over max_reject_rate 0.01; nothing was published. Fix the data, or raise max_reject_rate.',
    );
  });

  it('refuses models that disagree on their columns, and averaging labels', async () => {
    const clash = await mlscale(
      [
        'score',
        '--job',
        job(
          'clash',
          `models:${modelBlock('logreg')}\n  - name: rf\n    path: ${onnxFixture('rf_iris.onnx')}\n    features: [Sepal_Length, Sepal_Width, Sepal_Length, Sepal_Width]\ncombine: mean\n`,
        ),
      ],
      { cwd: s.dir },
    );
    expect(clash.code).toBe(2);
    expect(errorLine(clash)).toBe(
      'error: models: "rf" writes columns (output_label, probability_0, probability_1, probability_2) but "logreg" writes (p_setosa, p_versicolor, p_virginica); map both to the same columns under outputs:.',
    );
    const labels = `models:\n  - { name: a, path: ${onnxFixture('logreg_iris.onnx')}, features: [Sepal_Length, Sepal_Width], outputs: { label: { output: output_label } } }\n  - { name: b, path: ${onnxFixture('pipeline_xgboost.onnx')}, features: [Sepal_Length, Sepal_Width], outputs: { label: { output: output_label } } }\ncombine: mean\n`;
    const avg = await mlscale(['score', '--job', job('labels', labels)], { cwd: s.dir });
    expect(avg.code).toBe(2);
    expect(errorLine(avg)).toBe(
      'error: combine: mean averages numbers, but "label" of "a" (bigint), "label" of "b" (bigint) is not a float output; map only probability or score outputs, or use combine: route.',
    );
    const noRoute = await mlscale(
      [
        'score',
        '--job',
        job(
          'noroute',
          `models:${modelBlock('logreg')}${modelBlock('xgb')}\ncombine: route\nroutes: { setosa: logreg }\n`,
        ),
      ],
      { cwd: s.dir },
    );
    expect(noRoute.code).toBe(2);
    expect(errorLine(noRoute)).toMatch(
      /^error: noroute\.yaml:\d+:\d+: combine: route needs route_by: the column whose value picks the model\.$/,
    );
  });

  it.skipIf(skipPg)('routed rows reach Postgres with their own model name and version', async () => {
    const schema = await tempSchema('e2e_multi');
    try {
      const r = await mlscale(
        [
          'score',
          '--job',
          job('routed_pg', routeBody, `postgres: { url: "\${DATABASE_URL}", table: ${schema.name}.iris_routed }`),
        ],
        { cwd: s.dir, env: { DATABASE_URL: databaseUrl } },
      );
      expect(errorLine(r)).toBe('');
      const rows = await query<{ model_name: string; n: string }>(
        `SELECT model_name, count(*) AS n FROM ${schema.name}.iris_routed GROUP BY 1 ORDER BY 1`,
      );
      expect(rows).toEqual([
        { model_name: 'lgbm', n: '50' },
        { model_name: 'logreg', n: '50' },
        { model_name: 'xgb', n: '50' },
      ]);
      const ledger = await query<{ model_name: string }>(`SELECT model_name FROM ${schema.name}.mlscale_runs`);
      expect(ledger).toEqual([{ model_name: 'logreg+xgb+lgbm' }]);
    } finally {
      await schema.drop();
    }
  });
});
