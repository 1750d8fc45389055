import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bool, Float32, Int32, Table, makeVector, vectorFromArray } from 'apache-arrow';
import type { Browser } from 'playwright-core';
import { errorLine, mlscale } from '../support/cli.js';
import { readParquetTable, writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';
import { databaseUrl, query, skipPg, tempSchema } from '../support/pg.js';
import { sklearnMetrics, sklearnVersion } from '../support/sklearn.js';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { logisticModel, rng } from '../../scripts/lib/onnx-builder.mjs';

// mlscale evaluate through the real CLI: a logistic model scored by onnxruntime into Parquet and
// Postgres, labels drawn from a known law arriving as Parquet files and as a Postgres table.
const s = scratchDir('evaluate');
const env = { DATABASE_URL: databaseUrl };
let schema: Awaited<ReturnType<typeof tempSchema>> | undefined;
afterAll(async () => {
  s.remove();
  await schema?.drop();
});

const N = 2000;
const UNSCORED = 40;
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** Features for a day, and labels for it: most rows labelled, some null, some for ids never scored. */
function day(ds: string, seed: number, labelShift: number, opts: { oneClass?: boolean; boolean?: boolean } = {}) {
  const r = rng(seed) as () => number;
  const x = [0, 1, 2].map(() => Float32Array.from({ length: N }, () => r() * 2 - 1));
  writeParquet(
    path.join(s.dir, 'in', `ds=${ds}`, 'p.parquet'),
    new Table({
      id: makeVector(Int32Array.from({ length: N }, (_, i) => i)),
      x0: makeVector(x[0]!),
      x1: makeVector(x[1]!),
      x2: makeVector(x[2]!),
    }),
  );
  const ids: number[] = [];
  const ys: (number | null)[] = [];
  for (let i = 0; i < N + UNSCORED; i++) {
    // Three rows in ten have no outcome yet; the model's law, shifted on later days (concept drift).
    if (i < N && i % 10 < 3) continue;
    const truth = i < N ? sigmoid(3 * x[0]![i]! - 2 * x[1]![i]! + labelShift * x[2]![i]!) : 0.5;
    ids.push(i);
    ys.push(opts.oneClass ? 0 : i % 97 === 0 ? null : r() < truth ? 1 : 0);
  }
  writeParquet(
    path.join(s.dir, 'labels', `ds=${ds}`, 'l.parquet'),
    new Table({
      id: vectorFromArray(ids, new Int32()),
      churned: opts.boolean
        ? vectorFromArray(
            ys.map((y) => (y === null ? null : y === 1)),
            new Bool(),
          )
        : vectorFromArray(ys, new Float32()),
    }),
  );
  return { ids, ys };
}

const labelsByDay = new Map<string, { ids: number[]; ys: (number | null)[] }>();

const jobFile = (name: string, extra = '', sink = 'parquet: { path: "out/ds={{ ds }}" }') =>
  s.file(
    name,
    `name: eval_daily
model:
  path: model.onnx
  version: "1"
  features: [x0, x1, x2]
source:
  parquet: { path: "in/ds={{ ds }}" }
key: [id]
labels:
  parquet: { path: "labels/ds={{ ds }}" }
  column: churned
sink:
  ${sink}
${extra}`,
  );

beforeAll(async () => {
  writeFileSync(path.join(s.dir, 'model.onnx'), logisticModel({ weights: [3, -2, 0], bias: 0 }));
  // A challenger that knows x2, which drives day two's outcomes.
  writeFileSync(path.join(s.dir, 'better.onnx'), logisticModel({ weights: [3, -2, 4], bias: 0 }));
  labelsByDay.set('2024-01-01', day('2024-01-01', 1, 0));
  labelsByDay.set('2024-01-02', day('2024-01-02', 2, 4, { boolean: true }));
  labelsByDay.set('2024-01-03', day('2024-01-03', 3, 0, { oneClass: true }));
  const job = jobFile('job.yaml');
  for (const ds of labelsByDay.keys()) {
    const r = await mlscale(['score', '--job', job, '--param', `ds=${ds}`], { cwd: s.dir });
    expect(errorLine(r)).toBe('');
  }
});

/** The published scores of a Parquet partition joined in the test with that day's labels. */
function joined(ds: string, column: string) {
  const dir = path.join(s.dir, 'out', `ds=${ds}`);
  const byId = new Map<number, number>();
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.parquet'))) {
    const t = readParquetTable(path.join(dir, f));
    for (let i = 0; i < t.numRows; i++) byId.set(Number(t.getChild('id')!.get(i)), Number(t.getChild(column)!.get(i)));
  }
  const { ids, ys } = labelsByDay.get(ds)!;
  const scores: number[] = [];
  const labels: number[] = [];
  ids.forEach((id, k) => {
    if (ys[k] === null || !byId.has(id)) return;
    scores.push(byId.get(id)!);
    labels.push(ys[k]!);
  });
  return { scores, labels, predictions: byId.size };
}

interface Out {
  metrics: Record<string, Record<string, unknown>>;
  labels: Record<string, unknown>;
  models: {
    role: string;
    model_name: string;
    model_version: string;
    metrics: Record<string, Record<string, unknown>>;
  }[];
  gates: { gate: string; column: string; outcome: string }[];
  stored: string;
  evaluated_at: string;
}

const evaluate = async (job: string, ds: string, extra: string[] = [], e: NodeJS.ProcessEnv = {}) => {
  const r = await mlscale(['evaluate', '--job', job, '--param', `ds=${ds}`, '--json', ...extra], {
    cwd: s.dir,
    env: e,
  });
  return { r, out: r.stdout ? (JSON.parse(r.stdout) as Out) : undefined };
};

const METRICS = ['roc_auc', 'pr_auc', 'log_loss', 'brier', 'accuracy', 'precision', 'recall', 'f1'] as const;

describe('mlscale evaluate (Parquet sink)', () => {
  it('measures the published scores against the labels as scikit-learn does, per column and model version', async () => {
    const { r, out } = await evaluate(jobFile('job.yaml'), '2024-01-01');
    expect(errorLine(r)).toBe('');
    expect(r.code).toBe(0);
    const m = out!.metrics.score!;
    const { scores, labels, predictions } = joined('2024-01-01', 'score');
    expect(m.task).toBe('binary');
    expect(m.count).toBe(labels.length);
    expect(m.coverage).toBeCloseTo(labels.length / predictions, 12);
    // Ids never scored are ignored and counted; null labels are counted as not yet known.
    expect(out!.labels.unscored).toBe(
      labelsByDay.get('2024-01-01')!.ids.filter((id, k) => id >= N && labelsByDay.get('2024-01-01')!.ys[k] !== null)
        .length,
    );
    expect(out!.labels.nulls).toBe(labelsByDay.get('2024-01-01')!.ys.filter((y) => y === null).length);
    expect(out!.models.map((x) => [x.role, x.model_name, x.model_version])).toEqual([['champion', 'model', '1']]);
    expect(out!.models[0]!.metrics.score).toEqual(m);
    // The int64 label output is the model's 0/1 decision: measured by the threshold metrics only,
    // never as a score (a max_log_loss gate must not judge it).
    const label = out!.metrics.label!;
    expect(label.task).toBe('binary');
    expect(typeof label.accuracy).toBe('number');
    for (const k of ['roc_auc', 'pr_auc', 'log_loss', 'brier'] as const) {
      expect(label[k], k).toBeNull();
      expect((label.undefined_reasons as Record<string, string>)[k], k).toMatch(/^a class label \(0\/1\), not a score/);
    }
    if (!sklearnVersion) return;
    const [want] = sklearnMetrics([{ scores, labels, threshold: 0.5, task: 'binary' }]);
    let worst = 0;
    for (const k of METRICS) {
      const d = Math.abs((m[k] as number) - (want![k] as number));
      worst = Math.max(worst, d);
      expect(d, `${k}: ${String(m[k])} vs sklearn ${String(want![k])}`).toBeLessThan(1e-9);
    }
    console.log(
      `evaluate vs sklearn ${sklearnVersion} on published scores: max abs difference ${worst.toExponential(2)}`,
    );
    expect(m.roc_auc as number).toBeGreaterThan(0.8);
  });

  it('stores one evaluation per partition, and a later evaluation replaces it', async () => {
    const job = jobFile('job.yaml');
    const first = await evaluate(job, '2024-01-02');
    const again = await evaluate(job, '2024-01-02');
    expect(again.r.code).toBe(0);
    const file = path.join(s.dir, 'out', '_mlscale', 'evaluations', 'eval_daily', '2024-01-02.json');
    expect(again.out!.stored).toBe(file);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Out;
    expect(stored.evaluated_at).toBe(again.out!.evaluated_at);
    expect(stored.evaluated_at > first.out!.evaluated_at).toBe(true);
    // Boolean labels read as 0/1; the drifted law leaves the model worse than on day one.
    expect(stored.metrics.score!.count).toBe(joined('2024-01-02', 'score').labels.length);
  });

  it('a partition whose labels are all one class has no AUC, says why, and does not trip a gate on it', async () => {
    const job = jobFile('gated.yaml', 'monitor: { min_roc_auc: 0.75 }');
    const { r, out } = await evaluate(job, '2024-01-03');
    expect(r.code).toBe(0);
    expect(out!.metrics.score!.roc_auc).toBeNull();
    expect(out!.metrics.score!.pr_auc).toBeNull();
    expect((out!.metrics.score!.undefined_reasons as Record<string, string>).roc_auc).toBe(
      'every label is 0: a ranking metric needs both classes',
    );
    expect(out!.gates.find((g) => g.column === 'score')!.outcome).toBe('unchecked');
    expect(typeof out!.metrics.score!.log_loss).toBe('number');
  });

  it('exits 3 when a monitor: floor is broken, naming the column, the metric and the bound; the evaluation is still stored', async () => {
    const job = jobFile('strict.yaml', 'monitor: { min_roc_auc: 0.99, min_coverage: 0.5 }');
    const { r, out } = await evaluate(job, '2024-01-01');
    expect(r.code).toBe(3);
    const auc = Number((out!.metrics.score!.roc_auc as number).toPrecision(6));
    expect(errorLine(r)).toBe(
      `error: quality gate: partition 2024-01-01: score roc_auc ${auc} is under monitor.min_roc_auc 0.99; the evaluation is stored. Look at the model or its inputs, or change the bound in monitor:.`,
    );
    // The 0/1 label output has no ROC AUC: its gate is unchecked, not broken.
    expect(out!.gates.find((g) => g.gate === 'min_roc_auc' && g.column === 'label')!.outcome).toBe('unchecked');
    expect(out!.gates.filter((g) => g.gate === 'min_coverage').map((g) => g.outcome)).toEqual(['passed', 'passed']);
  });

  it('bad input is one sentence naming the thing and the fix (exit 2)', async () => {
    const noLabels = s.file(
      'nolabels.yaml',
      readFileSync(jobFile('tmp.yaml'), 'utf8').replace(/labels:\n.*\n.*\n/, ''),
    );
    let r = (await evaluate(noLabels, '2024-01-01')).r;
    expect(r.code).toBe(2);
    expect(errorLine(r)).toBe(
      `error: ${noLabels}: job eval_daily has no labels: block; add one naming where the outcomes arrive (labels: { parquet: { path: ... }, column: ... }).`,
    );
    const badCol = s.file(
      'badcol.yaml',
      readFileSync(jobFile('tmp.yaml'), 'utf8').replace('column: churned', 'column: churn'),
    );
    r = (await evaluate(badCol, '2024-01-01')).r;
    expect(r.code).toBe(2);
    expect(errorLine(r)).toBe(
      'error: labels: column "churn" is not in the labels (have: id, churned); fix labels.column, labels.key or labels.known_at.',
    );
    r = (await evaluate(jobFile('job.yaml'), '2024-02-01')).r;
    expect(r.code).toBe(2);
    expect(errorLine(r)).toMatch(/^error: labels: .*labels\/ds=2024-02-01 matches no files/);
    const noScores = path.join(s.dir, 'labels', 'ds=2024-03-01');
    writeParquet(
      path.join(noScores, 'l.parquet'),
      new Table({ id: makeVector(Int32Array.of(1)), churned: makeVector(Float32Array.of(1)) }),
    );
    r = (await evaluate(jobFile('job.yaml'), '2024-03-01')).r;
    expect(r.code).toBe(2);
    expect(errorLine(r)).toBe(
      `error: evaluate: no published predictions at ${path.join(s.dir, 'out', 'ds=2024-03-01')} for partition 2024-03-01; run mlscale score for it first (or check --param ds).`,
    );
  });

  it('runs shows the quality of each evaluated run', async () => {
    expect((await evaluate(jobFile('job.yaml'), '2024-01-01')).r.code).toBe(0);
    const r = await mlscale(['runs', '--dir', path.join(s.dir, 'out'), '--json']);
    expect(r.code).toBe(0);
    const runs = JSON.parse(r.stdout) as {
      partition: string;
      quality: { metrics: Record<string, { roc_auc: number | null }> } | null;
    }[];
    const first = runs.find((x) => x.partition === '2024-01-01')!;
    const stored = JSON.parse(
      readFileSync(path.join(s.dir, 'out', '_mlscale', 'evaluations', 'eval_daily', '2024-01-01.json'), 'utf8'),
    ) as Out;
    expect(first.quality!.metrics.score!.roc_auc).toBe(stored.metrics.score!.roc_auc);
    const text = await mlscale(['runs', '--dir', path.join(s.dir, 'out')]);
    expect(text.stdout.split('\n')[0]).toContain('quality');
    const line = text.stdout.split('\n').find((l) => l.includes('2024-01-01'))!;
    expect(line).toContain(`roc_auc=${(stored.metrics.score!.roc_auc as number).toFixed(3)}`);
  });
});

/** Every row of a Parquet tree's partition, by id. */
function scoresOf(dir: string, column = 'score') {
  const out = new Map<number, { score: number; model: string }>();
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.parquet'))) {
    const t = readParquetTable(path.join(dir, f));
    for (let i = 0; i < t.numRows; i++)
      out.set(Number(t.getChild('id')!.get(i)), {
        score: Number(t.getChild(column)!.get(i)),
        model: `${String(t.getChild('model_name')!.get(i))}@${String(t.getChild('model_version')!.get(i))}`,
      });
  }
  return out;
}

const challengerJob = (name: string, required = false) =>
  s.file(
    name,
    readFileSync(jobFile('tmp.yaml', '', 'parquet: { path: "ch/ds={{ ds }}" }'), 'utf8').replace(
      'key: [id]',
      `key: [id]
challengers:
  - { path: better.onnx, name: better, version: "2", features: [x0, x1, x2] }
  - { path: better.onnx, name: broken, features: [x0, x1, nope]${required ? ', required: true' : ''} }`,
    ),
  );

interface ScoreOut {
  runId: string;
  rowsWritten: number;
  challengers: { name: string; status: string; rowsWritten: number; error: string | null; exitCode: number | null }[];
}

describe('challengers', () => {
  it('time the champion that runs after a required challenger from its own start', async () => {
    const job = s.file(
      'req.yaml',
      readFileSync(jobFile('tmp.yaml', '', 'parquet: { path: "req/ds={{ ds }}" }'), 'utf8').replace(
        'key: [id]',
        `key: [id]
challengers:
  - { path: better.onnx, name: better, version: "2", features: [x0, x1, x2], required: true }`,
      ),
    );
    const r = await mlscale(['score', '--job', job, '--param', 'ds=2024-01-02', '--json'], { cwd: s.dir });
    expect(errorLine(r)).toBe('');
    const out = JSON.parse(r.stdout) as { durationMs: number; timings: { start_ms: number } };
    // From the process start it counted the challenger's whole run too ("first chunk at 12.13 s" of a 0.56 s run).
    expect(out.timings.start_ms).toBeLessThanOrEqual(out.durationMs);
  });

  it('are scored on the same rows beside the published predictions, which they never change; a failing one is reported', async () => {
    const plain = await mlscale(
      [
        'score',
        '--job',
        jobFile('plain.yaml', '', 'parquet: { path: "ch/ds={{ ds }}" }'),
        '--param',
        'ds=2024-01-02',
        '--json',
      ],
      { cwd: s.dir },
    );
    expect(errorLine(plain)).toBe('');
    const before = scoresOf(path.join(s.dir, 'ch', 'ds=2024-01-02'));
    const r = await mlscale(['score', '--job', challengerJob('ch.yaml'), '--param', 'ds=2024-01-02', '--json'], {
      cwd: s.dir,
    });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as ScoreOut;
    expect(out.rowsWritten).toBe(N);
    expect(out.challengers.map((c) => [c.name, c.status, c.rowsWritten, c.exitCode])).toEqual([
      ['better', 'succeeded', N, null],
      ['broken', 'failed', 0, 2],
    ]);
    expect(out.challengers[1]!.error).toMatch(/nope/);
    expect(r.stderr).toContain(`challenger broken failed: `);
    expect(r.stderr).toContain(`the champion's run ${out.runId} is published and unaffected.`);
    // The published partition: the same scores, the same count, the champion's run, succeeded.
    const after = scoresOf(path.join(s.dir, 'ch', 'ds=2024-01-02'));
    expect(after.size).toBe(N);
    expect([...after.values()].map((v) => v.score)).toEqual([...before.values()].map((v) => v.score));
    expect(new Set([...after.values()].map((v) => v.model))).toEqual(new Set(['model@1']));
    const ledger = JSON.parse(readFileSync(path.join(s.dir, 'ch', 'ds=2024-01-02', '_mlscale_run.json'), 'utf8'));
    expect([ledger.run_id, ledger.status, ledger.rows_written]).toEqual([out.runId, 'succeeded', N]);
    // The challenger's own tree beside the sink's root, its own name and version on every row.
    const theirs = scoresOf(path.join(s.dir, 'ch_challenger_better', 'ds=2024-01-02'));
    expect(theirs.size).toBe(N);
    expect(new Set([...theirs.values()].map((v) => v.model))).toEqual(new Set(['better@2']));
  });

  it('validate checks each challenger as its run would: a failing one warns, a required one fails', async () => {
    const warned = await mlscale(['validate', '--job', challengerJob('ch.yaml'), '--param', 'ds=2024-01-02'], {
      cwd: s.dir,
    });
    expect(warned.code).toBe(0);
    expect(warned.stdout).toContain(
      `challenger better version 2 -> ${path.join(s.dir, 'ch_challenger_better', 'ds=')}`,
    );
    expect(warned.stderr).toMatch(
      /challenger broken: source: column "nope" .* It would fail and be reported; the champion is unaffected\./,
    );
    const refused = await mlscale(
      ['validate', '--job', challengerJob('chreq.yaml', true), '--param', 'ds=2024-01-02'],
      { cwd: s.dir },
    );
    expect(refused.code).toBe(2);
    expect(errorLine(refused)).toMatch(/^error: source: column "nope"/);
  });

  it('a required challenger that fails fails the run before the champion scores: nothing of the champion is published', async () => {
    const partition = path.join(s.dir, 'ch', 'ds=2024-01-02');
    const published = readFileSync(path.join(partition, '_mlscale_run.json'), 'utf8');
    const ledger = () => readdirSync(path.join(s.dir, 'ch', '_mlscale', 'runs')).sort();
    const runsBefore = ledger();
    const r = await mlscale(
      ['score', '--job', challengerJob('chreq.yaml', true), '--param', 'ds=2024-01-02', '--json'],
      { cwd: s.dir },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('it is required, so the champion was not scored and nothing of it was published');
    // The partition is the earlier run's, byte for byte, and the champion's ledger has no new run.
    expect(readFileSync(path.join(partition, '_mlscale_run.json'), 'utf8')).toBe(published);
    expect(scoresOf(partition).size).toBe(N);
    expect(ledger()).toEqual(runsBefore);
  });

  it('evaluate measures each challenger on the same labels and compares it with the champion, deterministically', async () => {
    const job = challengerJob('ch.yaml');
    const a = await evaluate(job, '2024-01-02');
    expect(errorLine(a.r)).toBe('');
    const b = await evaluate(job, '2024-01-02');
    const ch = a.out!.models.find((m) => m.role === 'challenger')! as Out['models'][number] & {
      comparison: Record<
        string,
        {
          rows: number;
          agreement: number;
          psi: number;
          deltas: Record<string, { delta: number; ci_low: number; ci_high: number }>;
        }
      >;
    };
    expect([ch.model_name, ch.model_version]).toEqual(['better', '2']);
    expect((b.out!.models.find((m) => m.role === 'challenger') as typeof ch).comparison).toEqual(ch.comparison);
    // The failed challenger published nothing: named, not measured, not an error.
    expect(
      (a.out as unknown as { missing_challengers: { name: string }[] }).missing_challengers.map((m) => m.name),
    ).toEqual(['broken']);
    // Independently: agreement at 0.5 and the PSI over ten bins of [0, 1], from the two trees.
    const ours = scoresOf(path.join(s.dir, 'ch', 'ds=2024-01-02'));
    const theirs = scoresOf(path.join(s.dir, 'ch_challenger_better', 'ds=2024-01-02'));
    let agree = 0;
    const bins = (v: number) => Math.min(9, Math.floor(v * 10 + 1e-12));
    const ca = new Array(10).fill(0);
    const cb = new Array(10).fill(0);
    for (const [id, v] of ours) {
      const w = theirs.get(id)!.score;
      if (v.score >= 0.5 === w >= 0.5) agree++;
      ca[bins(v.score)]++;
      cb[bins(w)]++;
    }
    const c = ch.comparison.score!;
    expect(c.rows).toBe(N);
    expect(c.agreement).toBeCloseTo(agree / N, 12);
    let psi = 0;
    for (let k = 0; k < 10; k++) {
      const e = Math.max(ca[k] / N, 1e-4);
      const q = Math.max(cb[k] / N, 1e-4);
      psi += (q - e) * Math.log(q / e);
    }
    expect(c.psi).toBeCloseTo(psi, 9);
    // The challenger knows x2, which drives day two's outcomes: better, and the interval says so.
    const champ = a.out!.models.find((m) => m.role === 'champion')!;
    const auc = c.deltas.roc_auc!;
    expect(auc.delta).toBeCloseTo((ch.metrics.score!.roc_auc as number) - (champ.metrics.score!.roc_auc as number), 12);
    expect(auc.ci_low).toBeLessThan(auc.delta);
    expect(auc.ci_high).toBeGreaterThan(auc.delta);
    expect(auc.ci_low).toBeGreaterThan(0);
    if (sklearnVersion) {
      const { ids, ys } = labelsByDay.get('2024-01-02')!;
      const pairs = ids
        .map((id, k) => [theirs.get(id)?.score, ys[k]] as const)
        .filter(([sc, y]) => sc !== undefined && y !== null);
      const [want] = sklearnMetrics([
        { scores: pairs.map((p) => p[0]!), labels: pairs.map((p) => p[1]!), threshold: 0.5, task: 'binary' },
      ]);
      expect(Math.abs((ch.metrics.score!.roc_auc as number) - (want!.roc_auc as number))).toBeLessThan(1e-9);
    }
  });
});

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  if (process.env.CI === 'true')
    throw new Error(`CI=true and ${CHROMIUM} is missing; .ci/run installs Debian's chromium.`);
  process.stderr.write(
    `\n!! quality report rendering test SKIPPED: ${CHROMIUM} not installed (apt-get install chromium)\n`,
  );
}

describe.skipIf(!haveChromium)('the quality section of the report, in headless Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('draws the metric per partition for the model version, the calibration of the partition, and its metrics table', async () => {
    const runId = JSON.parse(readFileSync(path.join(s.dir, 'out', 'ds=2024-01-01', '_mlscale_run.json'), 'utf8'))
      .run_id as string;
    const r = await mlscale(['report', runId, '--dir', 'out', '--out', 'quality.html'], { cwd: s.dir });
    expect(errorLine(r)).toBe('');
    const stored = (ds: string) =>
      JSON.parse(
        readFileSync(path.join(s.dir, 'out', '_mlscale', 'evaluations', 'eval_daily', `${ds}.json`), 'utf8'),
      ) as Out;
    const page = await browser.newPage({ viewport: { width: 1024, height: 900 } });
    await page.goto(`file://${path.join(s.dir, 'quality.html')}`);
    const drawn = await page.evaluate(() => {
      const rect = (e: Element) => {
        const b = (e as SVGGraphicsElement).getBBox();
        return { x: b.x, y: b.y, width: b.width, height: b.height };
      };
      const trend = document.querySelector('svg.quality-trend[data-column="score"]')!;
      const cal = document.querySelector('svg.calibration[data-column="score"]')!;
      return {
        metric: trend.getAttribute('data-metric'),
        points: Array.from(trend.querySelectorAll('.quality-point')).map((c) => ({
          partition: c.getAttribute('data-partition'),
          series: c.getAttribute('data-series'),
          value: Number(c.getAttribute('data-value')),
          cy: (c as SVGCircleElement).getBBox().y + (c as SVGCircleElement).getBBox().height / 2,
        })),
        line: (trend.querySelector('.quality-line') as SVGGraphicsElement).getBBox().width,
        calibration: Array.from(cal.querySelectorAll('.calibration-point')).map((c) => ({
          score: Number(c.getAttribute('data-mean-score')),
          rate: Number(c.getAttribute('data-positive-rate')),
          count: Number(c.getAttribute('data-count')),
          box: rect(c),
        })),
        diagonal: rect(cal.querySelector('.calibration-diagonal')!),
        rocCell: document.querySelector(
          'section.quality[data-column="score"] tr[data-role="champion"] td[data-metric="roc_auc"]',
        )?.textContent,
      };
    });
    const [d1, d2] = [stored('2024-01-01'), stored('2024-01-02')];
    expect(drawn.metric).toBe('roc_auc');
    // Day three's labels are one class: no AUC, so no point; the other two in partition order.
    expect(drawn.points.map((p) => [p.partition, p.series, p.value])).toEqual([
      ['2024-01-01', 'model@1', d1.metrics.score!.roc_auc],
      ['2024-01-02', 'model@1', d2.metrics.score!.roc_auc],
    ]);
    expect(drawn.line).toBeGreaterThan(100);
    // Higher AUC is drawn higher (smaller y).
    const [p1, p2] = drawn.points;
    expect(Math.sign(p2!.cy - p1!.cy)).toBe(Math.sign(p1!.value - p2!.value));
    const bins = (
      d1.metrics.score!.calibration as { count: number; mean_score: number; positive_rate: number }[]
    ).filter((b) => b.count > 0);
    expect(drawn.calibration.map((c) => [c.score, c.rate, c.count])).toEqual(
      bins.map((b) => [b.mean_score, b.positive_rate, b.count]),
    );
    // The diagonal spans the plot; every bin's point is inside it.
    expect(drawn.diagonal.width).toBeGreaterThan(150);
    for (const c of drawn.calibration) {
      expect(c.box.x + c.box.width / 2).toBeGreaterThanOrEqual(drawn.diagonal.x - 0.5);
      expect(c.box.x + c.box.width / 2).toBeLessThanOrEqual(drawn.diagonal.x + drawn.diagonal.width + 0.5);
    }
    expect(drawn.rocCell).toBe(String(Number((d1.metrics.score!.roc_auc as number).toFixed(4))));
  });

  it('shows champion and challenger side by side: deltas with their bootstrap interval, agreement, PSI', async () => {
    const r = await mlscale(['report', '--job', 'eval_daily', '--dir', 'ch', '--out', 'challengers.html'], {
      cwd: s.dir,
    });
    expect(errorLine(r)).toBe('');
    const stored = JSON.parse(
      readFileSync(path.join(s.dir, 'ch', '_mlscale', 'evaluations', 'eval_daily', '2024-01-02.json'), 'utf8'),
    ) as {
      models: {
        role: string;
        comparison?: Record<
          string,
          { agreement: number; psi: number; deltas: Record<string, { delta: number; ci_low: number; ci_high: number }> }
        >;
      }[];
    };
    const want = stored.models.find((m) => m.role === 'challenger')!.comparison!.score!;
    const page = await browser.newPage({ viewport: { width: 1024, height: 900 } });
    await page.goto(`file://${path.join(s.dir, 'challengers.html')}`);
    const drawn = await page.evaluate(() => {
      const row = document.querySelector(
        'section.quality[data-column="score"] table.challengers tr[data-model="better@2"]',
      )!;
      const auc = row.querySelector('.ci[data-metric="roc_auc"]')!;
      return {
        agreement: Number(row.querySelector('[data-agreement]')!.getAttribute('data-agreement')),
        psi: Number(row.querySelector('[data-psi]')!.getAttribute('data-psi')),
        auc: [auc.getAttribute('data-delta'), auc.getAttribute('data-low'), auc.getAttribute('data-high')].map(Number),
        text: auc.textContent,
        visible: (row as HTMLElement).offsetHeight > 0,
        series: Array.from(document.querySelectorAll('svg.quality-trend[data-column="score"] .quality-line')).map((l) =>
          l.getAttribute('data-series'),
        ),
      };
    });
    expect(drawn.visible).toBe(true);
    expect(drawn.agreement).toBe(want.agreement);
    expect(drawn.psi).toBe(want.psi);
    const d = want.deltas.roc_auc!;
    expect(drawn.auc).toEqual([d.delta, d.ci_low, d.ci_high]);
    expect(drawn.text).toMatch(/^roc_auc \+0\.\d+ \[0\.\d+, 0\.\d+\]$/);
    // One trend line for the champion's version, one for the challenger.
    expect(drawn.series).toEqual(['model@1', 'challenger better@2']);
  });
});

describe.skipIf(skipPg)('mlscale evaluate (Postgres sink, Postgres labels)', () => {
  beforeAll(async () => {
    schema = await tempSchema('e2e_evaluate');
    const t = `${schema.name}.outcomes`;
    await query(`CREATE TABLE ${t} (id bigint, ds date, churned boolean)`);
    const { ids, ys } = labelsByDay.get('2024-01-01')!;
    await query(`INSERT INTO ${t} SELECT * FROM unnest($1::bigint[], $2::date[], $3::boolean[])`, [
      ids,
      ids.map(() => '2024-01-01'),
      ys.map((y) => (y === null ? null : y === 1)),
    ]);
  });

  /** The job with a Postgres sink table and its labels from the outcomes table. */
  const pgJob = (file: string, table: string) => {
    const job = jobFile(file, '', `postgres: { url: "\${DATABASE_URL}", table: ${schema!.name}.${table} }`);
    writeFileSync(
      job,
      readFileSync(job, 'utf8').replace(
        /labels:\n.*\n/,
        `labels:\n  postgres: { url: "\${DATABASE_URL}", query: "select id, churned from ${schema!.name}.outcomes where ds = :ds" }\n`,
      ),
    );
    return job;
  };

  it('gives the same metrics from the partitioned table as from Parquet, stores them beside the ledger, replaces them on re-evaluation', async () => {
    const job = pgJob('pg.yaml', 'scores');
    const sc = await mlscale(['score', '--job', job, '--param', 'ds=2024-01-01'], { cwd: s.dir, env });
    expect(errorLine(sc)).toBe('');
    const a = await evaluate(job, '2024-01-01', [], env);
    expect(errorLine(a.r)).toBe('');
    const parquet = await evaluate(jobFile('job.yaml'), '2024-01-01');
    for (const k of [...METRICS, 'count', 'coverage'])
      expect(a.out!.metrics.score![k], k).toBeCloseTo(parquet.out!.metrics.score![k] as number, 12);
    expect(a.out!.stored).toBe(`${schema!.name}.mlscale_evaluations`);
    await evaluate(job, '2024-01-01', [], env);
    const rows = await query<{ n: number; roc: number }>(
      `SELECT count(*)::int AS n, max((metrics->'score'->>'roc_auc')::float8) AS roc FROM ${schema!.name}.mlscale_evaluations`,
    );
    expect(rows).toEqual([{ n: 1, roc: a.out!.metrics.score!.roc_auc }]);
    const runs = await mlscale(['runs', '--url', databaseUrl, '--schema', schema!.name, '--json'], { env });
    const [run] = JSON.parse(runs.stdout) as { quality: { metrics: Record<string, { roc_auc: number }> } }[];
    expect(run!.quality.metrics.score!.roc_auc).toBe(a.out!.metrics.score!.roc_auc);
    // jsonb sorts its keys (label < score): runs still shows the job's first output first.
    expect(Object.keys(run!.quality.metrics)).toEqual(['score', 'label']);
    const text = await mlscale(['runs', '--url', databaseUrl, '--schema', schema!.name], { env });
    expect(text.stdout).toContain(`score:roc_auc=${(a.out!.metrics.score!.roc_auc as number).toFixed(3)}`);
    // A score another writer left NULL is counted as invalid, in no metric and not as a prediction.
    await query(
      `UPDATE ${schema!.name}.scores SET score = NULL WHERE id = (SELECT min(id) FROM ${schema!.name}.scores)`,
    );
    const nulled = await evaluate(job, '2024-01-01', [], env);
    expect(nulled.out!.metrics.score!.invalid_scores).toBe(1);
    expect(nulled.out!.metrics.score!.predictions).toBe((a.out!.metrics.score!.predictions as number) - 1);
    expect(a.out!.metrics.score!.invalid_scores).toBeUndefined();
    // A key published twice (as a source holding a row twice would) is measured twice, and said so.
    expect(a.out!.labels.duplicate_predictions).toBe(0);
    await query(
      `INSERT INTO ${schema!.name}.scores SELECT * FROM ${schema!.name}.scores WHERE id = (SELECT max(id) FROM ${schema!.name}.scores)`,
    );
    const doubled = await evaluate(job, '2024-01-01', [], env);
    expect(doubled.out!.labels.duplicate_predictions).toBe(1);
    expect(doubled.out!.metrics.score!.predictions).toBe((nulled.out!.metrics.score!.predictions as number) + 1);
    const said = await mlscale(['evaluate', '--job', job, '--param', 'ds=2024-01-01'], { cwd: s.dir, env });
    expect(said.stdout).toContain('; 1 published rows repeat a key already published (each is measured)');
  });

  it('a challenger writes its own table beside the published one, which keeps its rows; evaluate compares them', async () => {
    const job = pgJob('pg-ch.yaml', 'ch_scores');
    writeFileSync(
      job,
      readFileSync(job, 'utf8')
        .replace('name: eval_daily', 'name: eval_pg_ch')
        .replace(
          'key: [id]',
          'key: [id]\nchallengers:\n  - { path: better.onnx, name: better, version: "2", features: [x0, x1, x2] }',
        ),
    );
    const sc = await mlscale(['score', '--job', job, '--param', 'ds=2024-01-01', '--json'], { cwd: s.dir, env });
    expect(errorLine(sc)).toBe('');
    const published = await query<{ model: string; n: number }>(
      `SELECT model_name || '@' || model_version AS model, count(*)::int AS n FROM ${schema!.name}.ch_scores GROUP BY 1`,
    );
    expect(published).toEqual([{ model: 'model@1', n: N }]);
    const theirs = await query<{ model: string; n: number }>(
      `SELECT model_name || '@' || model_version AS model, count(*)::int AS n FROM ${schema!.name}.ch_scores_challenger_better GROUP BY 1`,
    );
    expect(theirs).toEqual([{ model: 'better@2', n: N }]);
    const a = await evaluate(job, '2024-01-01', [], env);
    expect(errorLine(a.r)).toBe('');
    const rows = await query<{ role: string; model_name: string; rows: number }>(
      `SELECT role, model_name, (comparison->'score'->>'rows')::int AS rows FROM ${schema!.name}.mlscale_evaluations WHERE job = 'eval_pg_ch' ORDER BY role`,
    );
    expect(rows).toEqual([
      { role: 'challenger', model_name: 'better', rows: N },
      { role: 'champion', model_name: 'model', rows: null },
    ]);
    // runs shows the quality of the champion's run and of the challenger's, each its own.
    const runs = await mlscale(['runs', '--url', databaseUrl, '--schema', schema!.name, '--json'], { env });
    const shown = (
      JSON.parse(runs.stdout) as {
        job: string;
        quality: { model_name: string; metrics: Record<string, { roc_auc: number }> } | null;
      }[]
    )
      .filter((r) => r.job.startsWith('eval_pg_ch'))
      .map((r) => [r.job, r.quality?.model_name, r.quality?.metrics.score!.roc_auc]);
    const by = (role: string) => a.out!.models.find((m) => m.role === role)!.metrics.score!.roc_auc;
    expect(shown.sort()).toEqual([
      ['eval_pg_ch', 'model', by('champion')],
      ['eval_pg_ch_challenger_better', 'better', by('challenger')],
    ]);
  });
});
