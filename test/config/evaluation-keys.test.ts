import { describe, expect, it } from 'vitest';
import { parseJob } from '../../src/config/load-job.js';
import { UsageError } from '../../src/errors.js';

// labels:, evaluate:, the quality gates under monitor: and challengers:, as parseJob resolves them.
const base = (extra: string, sink = 'postgres: { url: "${DB_URL}", table: analytics.churn }') => `
name: churn_daily
model:
  path: ../models/churn.onnx
  features: [a, b]
source:
  parquet: { path: "../data/ds={{ ds }}" }
key: [id, region]
sink:
  ${sink}
${extra}`;
const env = { DB_URL: 'postgres://u:secret@localhost/db' };
const file = '/jobs/daily.yaml';
const parse = (text: string) => parseJob(text, file, { params: { ds: '2024-02-03' } }, env);

function fails(text: string): string {
  try {
    parse(text);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('expected parseJob to fail');
}

describe('labels:, evaluate: and quality gates', () => {
  it('templates the labels path like the source and defaults to the job key, threshold 0.5, task auto, lag 7', () => {
    const job = parse(base('labels: { parquet: { path: "../outcomes/ds={{ ds }}" }, column: churned }'));
    expect(job.labels).toEqual({
      source: { kind: 'parquet', path: '/outcomes/ds=2024-02-03' },
      column: 'churned',
      key: ['id', 'region'],
    });
    expect(job.evaluation).toEqual({ threshold: 0.5, task: 'auto', lagDays: 7 });
    expect(job.qualityGates).toEqual([]);
  });

  it('a monitor: with quality gates only leaves the drift check off; with a drift key it stays on', () => {
    const gates = parse(base('monitor: { min_roc_auc: 0.75, max_log_loss: 0.6 }'));
    expect(gates.monitor).toBeUndefined();
    expect(gates.qualityGates).toEqual([
      { key: 'min_roc_auc', metric: 'roc_auc', bound: 'min', value: 0.75 },
      { key: 'max_log_loss', metric: 'log_loss', bound: 'max', value: 0.6 },
    ]);
    const both = parse(base('monitor: { on_drift: fail, min_coverage: 0.5 }'));
    expect(both.monitor).toEqual({ baseline: 'previous', maxPsi: 0.2, onDrift: 'fail' });
    expect(both.qualityGates.map((g) => g.key)).toEqual(['min_coverage']);
    expect(parse(base('monitor: {}')).monitor).toEqual({ baseline: 'previous', maxPsi: 0.2, onDrift: 'warn' });
  });

  it('refuses labels keys that do not pair with the job key, and a spliced labels query', () => {
    expect(fails(base('labels: { parquet: { path: x }, column: y, key: [customer] }'))).toBe(
      "daily.yaml: labels.key: lists 1 column(s) but the job's key: has 2 (id, region); name one label column per key column, in the same order.",
    );
    expect(
      fails(
        base('labels: { postgres: { url: "${DB_URL}", query: "select * from t where ds = \'{{ ds }}\'" }, column: y }'),
      ),
    ).toBe(
      'daily.yaml: labels.postgres.query: {{ }} and ${} would splice values into SQL; write :name instead (parameters are bound).',
    );
  });
});

describe('challengers:', () => {
  it('gives each challenger a job name and a table of its own beside the sink table', () => {
    const job = parse(base('challengers:\n  - { path: ../models/v4.onnx, name: Churn-V4, features: [a, b] }'));
    expect(
      job.challengers.map((c) => [c.model.name, c.job, c.required, c.sink.kind === 'postgres' && c.sink.table]),
    ).toEqual([['Churn-V4', 'churn_daily_challenger_churn_v4', false, 'churn_challenger_churn_v4']]);
  });

  it('puts a Parquet challenger in a tree beside the sink root, repeating the partition path', () => {
    const job = parse(
      base(
        'challengers:\n  - { path: ../models/v4.onnx, name: v4, features: [a, b] }',
        'parquet: { path: "../out/churn/ds={{ ds }}" }',
      ),
    );
    const sink = job.challengers[0]!.sink;
    expect(sink.kind === 'parquet' && [sink.root, sink.path]).toEqual([
      '/out/churn_challenger_v4',
      '/out/churn_challenger_v4/ds=2024-02-03',
    ]);
  });

  it("refuses a challenger named like the champion, into the published table, or with the other sink's key", () => {
    expect(fails(base('challengers:\n  - { path: ../models/churn.onnx, features: [a, b] }'))).toBe(
      'daily.yaml: challengers[0].name: "churn" is the champion\'s name; give the challenger a name of its own (name:).',
    );
    expect(
      fails(base('challengers:\n  - { path: ../models/v4.onnx, name: v4, table: analytics.churn, features: [a, b] }')),
    ).toBe(
      "daily.yaml: challengers[0].table: churn is the published predictions' table; name another table for the challenger.",
    );
    expect(fails(base('challengers:\n  - { path: ../models/v4.onnx, name: v4, dir: ../x, features: [a, b] }'))).toBe(
      'daily.yaml: challengers[0].dir: a challenger directory goes with the Parquet sink; with the Postgres sink write table:.',
    );
  });

  it('refuses what is not yet done on object storage, in one sentence each (exit 2), never a local path', () => {
    const s3 = 'parquet: { path: "s3://bucket/out/ds={{ ds }}" }';
    expect(fails(base('labels: { parquet: { path: "../outcomes" }, column: churned }', s3))).toMatch(
      /labels: mlscale evaluate does not yet read predictions published to an s3:\/\/ sink/,
    );
    expect(fails(base('challengers: [{ path: ../models/b.onnx, name: b }]', s3))).toMatch(
      /challengers: challengers are not yet scored into an s3:\/\/ sink/,
    );
    expect(fails(base('labels: { parquet: { path: "s3://bucket/labels/ds={{ ds }}" }, column: churned }'))).toMatch(
      /labels\.parquet\.path: labels are not yet read from object storage \(s3:\/\/bucket\/labels\/ds=2024-02-03\)/,
    );
  });

  it('refuses a challenger tree that would land at the file system root, naming dir:', () => {
    expect(
      fails(base('challengers: [{ path: ../models/b.onnx, name: b }]', 'parquet: { path: "/ds={{ ds }}" }')),
    ).toMatch(
      /challengers\[0\]: the sink's root is \/, so the challenger's tree would be \/_challenger_b; name its directory with challengers\[0\]\.dir\./,
    );
  });
});
