import { readFileSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Float32, Table, makeVector, vectorFromArray } from 'apache-arrow';
import { errorLine, mlscale } from '../support/cli.js';
import { readParquetTable, writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';
import { onnxFixture } from '../support/paths.js';
import { psi } from '../../src/stats/psi.js';
import { databaseUrl, query, skipPg, tempSchema } from '../support/pg.js';

// Run statistics, the drift gate and the reject gate through the real CLI (Parquet sink).
const s = scratchDir('quality');
afterAll(() => s.remove());

/** 5000 rows of 4 features; `shift` moves every feature up, `nullEvery` blanks x2 now and then. */
function data(day: string, seed: number, shift = 0, nullEvery = 0) {
  let a = seed;
  const rand = () => (a = (a * 1103515245 + 12345) % 2147483648) / 2147483648;
  const n = 5000;
  const col = () => Float32Array.from({ length: n }, () => rand() + shift);
  const x2 = Array.from(col(), (v, i) => (nullEvery && i % nullEvery === 0 ? null : v));
  writeParquet(
    path.join(s.dir, 'in', `ds=${day}`, 'part.parquet'),
    new Table({
      id: makeVector(Int32Array.from({ length: n }, (_, i) => i)),
      x0: makeVector(col()),
      x1: makeVector(col()),
      x2: vectorFromArray(x2, new Float32()),
      x3: makeVector(col()),
    }),
  );
}

const jobFile = (extra = '') =>
  s.file(
    'job.yaml',
    `name: drift_daily
model:
  path: ${onnxFixture('test_xgb.onnx')}
  features: [x0, x1, x2, x3]
source:
  parquet: { path: "in/ds={{ ds }}" }
key: [id]
monitor: { baseline: previous, max_psi: 0.2, on_drift: fail }
sink:
  parquet: { path: "out/ds={{ ds }}" }
${extra}`,
  );
const job = jobFile;
const ledger = (day: string) =>
  JSON.parse(readFileSync(path.join(s.dir, 'out', `ds=${day}`, '_mlscale_run.json'), 'utf8'));

describe('run statistics, drift and rejects', () => {
  it('records prediction and feature statistics that match the data, computed independently', async () => {
    data('2024-01-01', 1);
    const r = await mlscale(['score', '--job', job(), '--param', 'ds=2024-01-01'], { cwd: s.dir });
    expect(errorLine(r)).toBe('');
    expect(r.stderr).toContain(
      'monitor: no earlier succeeded run of this job to compare with; drift not checked this time.',
    );
    const stats = ledger('2024-01-01').stats;
    const out = readParquetTable(path.join(s.dir, 'out', 'ds=2024-01-01', 'part-00000.parquet'));
    const v = (Array.from(out.getChild('variable')!) as number[]).sort((a, b) => a - b);
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1));
    const p = stats.predictions.variable;
    expect(p.count).toBe(5000);
    expect(p.mean).toBeCloseTo(mean, 9);
    expect(p.std).toBeCloseTo(std, 9);
    expect([p.min, p.max]).toEqual([v[0], v.at(-1)]);
    expect(p.quantiles.p50).toBe(v[Math.round(0.5 * (v.length - 1))]);
    expect(p.histogram.counts.reduce((a: number, b: number) => a + b, 0)).toBe(5000);
    const input = readParquetTable(path.join(s.dir, 'in', 'ds=2024-01-01', 'part.parquet'));
    const x0 = Array.from(input.getChild('x0')!) as number[];
    const x0mean = x0.reduce((a, b) => a + b, 0) / x0.length;
    expect(stats.features.x0.mean).toBeCloseTo(x0mean, 6);
    expect(stats.features.x0.std).toBeCloseTo(
      Math.sqrt(x0.reduce((a, b) => a + (b - x0mean) ** 2, 0) / (x0.length - 1)),
      6,
    );
    expect(stats.features.x0.null_rate).toBe(0);
    expect(r.stdout).toMatch(/variable: mean [\d.]+, std [\d.]+/);
  });

  it('an unshifted day passes the drift gate; a shifted one fails it (exit 3) and publishes nothing', async () => {
    data('2024-01-02', 2);
    const same = await mlscale(['score', '--job', job(), '--param', 'ds=2024-01-02'], { cwd: s.dir });
    expect(errorLine(same)).toBe('');
    const drift = ledger('2024-01-02').stats.drift;
    expect(drift.baseline_run_id).toBe(ledger('2024-01-01').run_id);
    expect(drift.drifted).toEqual([]);
    for (const v of Object.values({ ...drift.psi.predictions, ...drift.psi.features }) as number[])
      expect(v).toBeLessThan(0.05);
    expect(same.stdout).toContain(`drift        vs run ${drift.baseline_run_id}: none`);

    data('2024-01-03', 3, 0.4);
    const shifted = await mlscale(['score', '--job', job(), '--param', 'ds=2024-01-03'], { cwd: s.dir });
    expect(shifted.code).toBe(3);
    expect(errorLine(shifted)).toMatch(
      new RegExp(
        `^error: drift: PSI over max_psi 0\\.2 against run ${ledger('2024-01-02').run_id} for (x\\d \\d\\.\\d{3}, ){3}x\\d \\d\\.\\d{3}(, variable \\d+\\.\\d{3})?; nothing was published\\. Check the inputs, or set monitor\\.on_drift: warn\\.$`,
      ),
    );
    expect(existsSync(path.join(s.dir, 'out', 'ds=2024-01-03'))).toBe(false);
    const warnJob = s.file('warn.yaml', readFileSync(job(), 'utf8').replace('on_drift: fail', 'on_drift: warn'));
    const warn = await mlscale(['score', '--job', warnJob, '--param', 'ds=2024-01-03'], { cwd: s.dir });
    expect(warn.code).toBe(0);
    expect(warn.stderr).toContain('drift: PSI over max_psi 0.2');
    expect(ledger('2024-01-03').stats.drift.drifted.length).toBeGreaterThanOrEqual(4);
  });

  it('counts NaN and nulls as rejected under skip and stops at max_reject_rate', async () => {
    data('2024-01-04', 4, 0, 50); // 2% of x2 missing
    // The previous run was the shifted day: compare, but do not gate on it here.
    const job = (extra: string) =>
      s.file('rejects.yaml', readFileSync(jobFile(extra), 'utf8').replace('on_drift: fail', 'on_drift: warn'));
    const over = await mlscale(['score', '--job', job('on_null: skip\n'), '--param', 'ds=2024-01-04'], { cwd: s.dir });
    expect(over.code).toBe(3);
    expect(errorLine(over)).toBe(
      'error: quality gate: 100 of 5000 rows (2.00%) were rejected (missing feature values, no route or non-finite predictions), over max_reject_rate 0.01; nothing was published. Fix the data, or raise max_reject_rate.',
    );
    const ok = await mlscale(
      ['score', '--job', job('on_null: skip\nmax_reject_rate: 0.05\n'), '--param', 'ds=2024-01-04'],
      { cwd: s.dir },
    );
    expect(errorLine(ok)).toBe('');
    const l = ledger('2024-01-04');
    expect([l.rows_read, l.rows_rejected, l.rows_written]).toEqual([5000, 100, 4900]);
    expect(l.stats.features.x2.null_rate).toBeCloseTo(0.02, 6);
    // With rejects: set, the rejected rows are published with the predictions, with their reason.
    const withFile = await mlscale(
      [
        'score',
        '--job',
        job('on_null: skip\nmax_reject_rate: 0.05\nrejects: { dir: out_rejects }\n'),
        '--param',
        'ds=2024-01-04',
      ],
      { cwd: s.dir },
    );
    expect(errorLine(withFile)).toBe('');
    // In a tree of their own beside the predictions' root, so globs over out/ never read them.
    const rej = readParquetTable(path.join(s.dir, 'out_rejects', 'ds=2024-01-04', 'part-00000.parquet'));
    expect(Array.from(rej.getChild('id')!, Number)).toEqual(Array.from({ length: 100 }, (_, i) => i * 50));
    expect(new Set(Array.from(rej.getChild('reason')!))).toEqual(new Set(['null in x2']));
    expect(Array.from(rej.getChild('run_id')!)[0]).toBe(ledger('2024-01-04').run_id);
    const filled = await mlscale(
      ['score', '--job', job('on_null: skip\non_null_features:\n  x2: { fill: 0.5 }\n'), '--param', 'ds=2024-01-04'],
      { cwd: s.dir },
    );
    expect(errorLine(filled)).toBe('');
    expect(ledger('2024-01-04').rows_written).toBe(5000);
  });

  it.skipIf(skipPg)('writes rejects into a table beside a Postgres sink, replaced on a re-run', async () => {
    const schema = await tempSchema('e2e_rejects');
    try {
      const text = readFileSync(
        jobFile(`on_null: skip\nmax_reject_rate: 0.05\nrejects: { table: ${schema.name}.scores_rejects }\n`),
        'utf8',
      )
        .replace(
          'sink:\n  parquet: { path: "out/ds={{ ds }}" }',
          `sink:\n  postgres: { url: "\${DATABASE_URL}", table: ${schema.name}.scores }`,
        )
        .replace('on_drift: fail', 'on_drift: warn');
      const pgJob = s.file('pgrejects.yaml', text);
      for (let i = 0; i < 2; i++) {
        const r = await mlscale(['score', '--job', pgJob, '--param', 'ds=2024-01-04'], {
          cwd: s.dir,
          env: { DATABASE_URL: databaseUrl },
        });
        expect(errorLine(r)).toBe('');
      }
      const rows = await query<{ n: string; reason: string; p: string }>(
        `SELECT count(*) AS n, min(reason) AS reason, min(partition) AS p FROM ${schema.name}.scores_rejects`,
      );
      expect(rows).toEqual([{ n: '100', reason: 'null in x2', p: '2024-01-04' }]);
      expect(await query(`SELECT count(*) AS n FROM ${schema.name}.scores`)).toEqual([{ n: '4900' }]);
    } finally {
      await schema.drop();
    }
  });

  it('mlscale runs filters by status and time and shows the drift figures', async () => {
    const runs = async (...args: string[]) =>
      JSON.parse((await mlscale(['runs', '--dir', 'out', '--json', ...args], { cwd: s.dir })).stdout) as {
        run_id: string;
        partition: string;
        status: string;
        error: string | null;
      }[];
    // Every run above into out/ is recorded, failed ones too: 6 succeeded (one per partition and
    // the re-runs of 2024-01-03 and 2024-01-04), the drift failure and the reject-rate failure.
    const all = await runs();
    const succeeded = await runs('--status', 'succeeded');
    const failed = await runs('--status', 'failed');
    expect(succeeded.length).toBe(6);
    expect(failed.map((r) => [r.partition, r.error?.split(':')[0]])).toEqual([
      ['2024-01-04', 'quality gate'],
      ['2024-01-03', 'drift'],
    ]);
    expect(all.length).toBe(succeeded.length + failed.length);
    // Each published partition shows one of the succeeded runs, counted once.
    const partitions = readdirSync(path.join(s.dir, 'out')).filter((d) => d.startsWith('ds='));
    expect(partitions.length).toBe(4);
    for (const d of partitions) expect(succeeded.map((r) => r.run_id)).toContain(ledger(d.slice('ds='.length)).run_id);
    expect(new Set(all.map((r) => r.run_id)).size).toBe(all.length);
    const table = (
      await mlscale(['runs', '--dir', 'out', '--job', 'drift_daily', '--status', 'succeeded', '--since', '1h'], {
        cwd: s.dir,
      })
    ).stdout;
    expect(table.split('\n')[0]).toMatch(
      /^run_id\s+job\s+partition\s+status\s+started_at\s+rows_read\s+rows_written\s+rejected\s+max_psi\s+drifted\s+quality\s+model$/,
    );
    expect(table).toMatch(/2024-01-03 .* x\d,x\d,x\d,x\d/);
    expect((await mlscale(['runs', '--dir', 'out', '--since', '2999-01-01'], { cwd: s.dir })).stdout).toBe(
      `no runs in ${path.join(s.dir, 'out')}\n`,
    );
    const bad = await mlscale(['runs', '--dir', 'out', '--since', 'yesterday'], { cwd: s.dir });
    expect(bad.code).toBe(2);
    expect(errorLine(bad)).toBe(
      'error: --since: "yesterday" is not a date, a time or a duration; write 2024-01-31, 2024-01-31T06:00:00Z or 7d.',
    );
  });

  it('PSI is zero for equal distributions and grows with the shift', () => {
    expect(psi([10, 20, 30], [10, 20, 30])).toBe(0);
    expect(psi([25, 25, 25, 25], [10, 20, 30, 40])).toBeGreaterThan(0.1);
    expect(psi([25, 25, 25, 25], [0, 0, 50, 50])).toBeGreaterThan(psi([25, 25, 25, 25], [10, 20, 30, 40]));
  });
});
