import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { parseJob } from '../../src/config/load-job.js';
import { errorLine, mlscale } from '../support/cli.js';
import { csvTable, writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';
import { datasetFixture, onnxFixture, repoRoot } from '../support/paths.js';

// The JSON Schema editors use and the CLI's own checks, on the same files: a real JSON Schema
// validator (ajv, draft 2020-12) and `mlscale validate` agree on each.
const schema = JSON.parse(readFileSync(path.join(repoRoot, 'jobs', 'job.schema.json'), 'utf8')) as object;
// Strict, but for strictRequired: `oneOf: [{ required: [model] }, ...]` names keys declared one level up.
const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
const schemaAccepts = ajv.compile(schema);

const s = scratchDir('job-schema');
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
});
afterAll(() => s.remove());

type JobDoc = Record<string, unknown>;
const model = (name: string) => ({
  name,
  path: onnxFixture('test_xgb.onnx'),
  features: ['Sepal_Length', 'Sepal_Width', 'Petal_Length', 'Petal_Width'],
});
const good = (): JobDoc => ({
  name: 'iris_schema',
  params: { ds: '2024-01-01' },
  model: model('xgb'),
  source: { parquet: { path: 'iris/*.parquet' } },
  key: ['_index_'],
  sink: { parquet: { path: 'out/ds={{ ds }}' } },
});
const pgSink = { postgres: { url: 'postgres://mlscale@127.0.0.1:1/none', table: 'iris_scores' } };
const twoModels = ({ model: _m, ...job }: JobDoc): JobDoc => ({ ...job, models: [model('a'), model('b')] });

/** Writes the job, asks ajv and `mlscale validate`; returns both verdicts and the CLI's error line. */
async function judge(label: string, job: JobDoc) {
  const file = s.file(`${label}.yaml`, stringify(job));
  const r = await mlscale(['validate', '--job', file], { cwd: s.dir });
  return { schema: schemaAccepts(job), cli: r.code === 0, code: r.code, error: errorLine(r) };
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('the JSON Schema and mlscale validate agree', () => {
  it.each<[string, (job: JobDoc) => JobDoc]>([
    ['as written', (job) => job],
    [
      'scheduled, with catch-up, in a linked zone name',
      (job) => ({ ...job, schedule: '0 6 * * 1-5', catchup: 2, timezone: 'Asia/Kolkata' }),
    ],
    ['on a @daily schedule in Europe/Kyiv', (job) => ({ ...job, schedule: '@daily', timezone: 'Europe/Kyiv' })],
    ['without a key', ({ key: _k, ...job }) => job],
    ['two models averaged', (job) => ({ ...twoModels(job), combine: 'mean' })],
    [
      'evaluated against labels, with quality gates, an evaluation schedule and a challenger',
      (job) => ({
        ...job,
        labels: { parquet: { path: 'labels/ds={{ ds }}/*.parquet' }, column: 'churned', known_at: 'known_at' },
        evaluate: { threshold: 0.4, task: 'binary', schedule: '0 7 * * *', lag_days: 7 },
        monitor: { min_roc_auc: 0.75, max_log_loss: 0.6, min_coverage: 0.5 },
        challengers: [{ ...model('xgb_next'), version: '2', dir: 'out_next' }],
      }),
    ],
  ])('both accept a good job: %s', async (label, change) => {
    const verdict = await judge(`good-${label.replace(/\W+/g, '-')}`, change(good()));
    expect(verdict).toEqual({ schema: true, cli: true, code: 0, error: '' });
  });

  it.each<[string, (job: JobDoc) => JobDoc, string]>([
    [
      'an unknown time zone',
      (job) => ({ ...job, timezone: 'Europe/Pari' }),
      'timezone: "Europe/Pari" is not an IANA time zone such as UTC or Europe/Paris (did you mean "Europe/Paris"?)',
    ],
    [
      'a time zone in the wrong case',
      (job) => ({ ...job, timezone: 'utc' }),
      'timezone: "utc" is not an IANA time zone such as UTC or Europe/Paris (did you mean "UTC"?)',
    ],
    [
      'prose for a schedule',
      (job) => ({ ...job, schedule: 'every day at 6' }),
      'schedule: "every day at 6" is not valid: write a cron expression of five fields (minute hour day month weekday), or six with seconds first, such as "0 6 * * *", or @daily',
    ],
    [
      'prose of five words for a schedule',
      (job) => ({ ...job, schedule: 'every day at 6 am' }),
      'schedule: "every day at 6 am" is not valid: write a cron expression of five fields (minute hour day month weekday), or six with seconds first, such as "0 6 * * *", or @daily',
    ],
    [
      'catchup without a schedule',
      (job) => ({ ...job, catchup: 2 }),
      'catchup: only used with schedule: (catch-up runs missed ticks); add a schedule or remove catchup',
    ],
    [
      'a rejects table with the Parquet sink',
      (job) => ({ ...job, rejects: { table: 'iris_rejects' } }),
      'rejects.table: a rejects table goes with the Postgres sink; with the Parquet sink write rejects: { dir: DIRECTORY }',
    ],
    [
      'a rejects directory with the Postgres sink',
      (job) => ({ ...job, sink: pgSink, rejects: { dir: 'rejects' } }),
      'rejects.dir: a rejects directory goes with the Parquet sink; with the Postgres sink write rejects: { table: NAME }',
    ],
    [
      'combine with one model',
      (job) => ({ ...job, combine: 'mean' }),
      'combine: needs several models under models:, not one model:',
    ],
    ['two models without combine', twoModels, 'models: several models need combine: mean, weighted or route'],
    [
      'route_by without combine: route',
      (job) => ({ ...twoModels(job), combine: 'mean', route_by: 'Sepal_Length' }),
      'route_by: only used with combine: route; remove it or set combine: route',
    ],
    [
      'combine: route without route_by',
      (job) => ({ ...twoModels(job), combine: 'route', default_model: 'a' }),
      'combine: route needs route_by: the column whose value picks the model',
    ],
    [
      'features and inputs on one model',
      (job) => ({ ...job, model: { ...model('xgb'), inputs: { X: ['Sepal_Length'] } } }),
      'model.inputs: use either features: or inputs:, not both',
    ],
    ['an empty key', (job) => ({ ...job, key: [] }), 'key: needs at least 1 item(s)'],
    [
      'evaluate: without labels:',
      (job) => ({ ...job, evaluate: { threshold: 0.4 } }),
      'evaluate: judges predictions against labels; add a labels: block',
    ],
    [
      'a key column twice',
      (job) => ({ ...job, key: ['_index_', '_index_'] }),
      'key[1]: "_index_" is listed twice; list each once',
    ],
  ])('both refuse %s', async (label, change, message) => {
    const file = `bad-${label.replace(/\W+/g, '-')}`;
    const verdict = await judge(file, change(good()));
    expect(verdict.schema, 'the JSON Schema accepts it').toBe(false);
    expect(verdict.code).toBe(2);
    expect(verdict.error).toMatch(new RegExp(`^error: ${escape(file)}\\.yaml:\\d+:\\d+: ${escape(message)}\\.$`));
  });

  it('the schema outlines cron expressions; mlscale alone checks each field’s range', async () => {
    const verdict = await judge('cron-range', { ...good(), schedule: '60 6 * * *' });
    expect(verdict.schema).toBe(true);
    expect(verdict.code).toBe(2);
    expect(verdict.error).toMatch(
      /^error: cron-range\.yaml:\d+:\d+: schedule: "60 6 \* \* \*" is not valid: 60 is not a valid minute; write a cron expression/,
    );
  });

  it.each(readdirSync(path.join(repoRoot, 'jobs')).filter((f) => f.endsWith('.yaml')))(
    'both accept the shipped jobs/%s',
    (name) => {
      const file = path.join(repoRoot, 'jobs', name);
      const text = readFileSync(file, 'utf8');
      expect(schemaAccepts(parse(text))).toBe(true);
      // The job's checks alone: its model, data and database exist only where it is deployed.
      expect(() => parseJob(text, file, {}, { DATABASE_URL: 'postgres://u@localhost/db' })).not.toThrow();
    },
  );
});
