import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Table, makeVector } from 'apache-arrow';
import type { Browser } from 'playwright-core';
import { errorLine, mlscale } from '../support/cli.js';
import { writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';
import { databaseUrl, query, skipPg, tempSchema } from '../support/pg.js';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { logisticModel } from '../../scripts/lib/onnx-builder.mjs';

// The HTML report, rendered by a real headless Chromium (Debian's chromium package).
const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  if (process.env.CI === 'true')
    throw new Error(`CI=true and ${CHROMIUM} is missing; .ci/run installs Debian's chromium.`);
  process.stderr.write(`\n!! report rendering test SKIPPED: ${CHROMIUM} not installed (apt-get install chromium)\n`);
}

const s = scratchDir('report');
const env = { DATABASE_URL: databaseUrl };
let schema: Awaited<ReturnType<typeof tempSchema>> | undefined;
afterAll(async () => {
  s.remove();
  await schema?.drop();
});

function day(ds: string, seed: number, shift: number) {
  let a = seed;
  const rand = () => (a = (a * 1103515245 + 12345) % 2147483648) / 2147483648;
  const n = 3000;
  const col = () => makeVector(Float32Array.from({ length: n }, () => rand() + shift));
  writeParquet(
    path.join(s.dir, 'in', `ds=${ds}`, 'p.parquet'),
    new Table({
      id: makeVector(Int32Array.from({ length: n }, (_, i) => i)),
      x0: col(),
      x1: col(),
      x2: col(),
      x3: col(),
    }),
  );
}

/** The same job (its outputs: a float score, then an int64 label) into Parquet or into Postgres. */
const jobFile = (name: string, sink: string, monitor = '{ on_drift: warn }') =>
  s.file(
    name,
    `name: report_daily\nmodel:\n  path: model.onnx\n  features: [x0, x1, x2, x3]\nsource:\n  parquet: { path: "in/ds={{ ds }}" }\nkey: [id]\nmonitor: ${monitor}\nsink:\n  ${sink}\n`,
  );
const runIdOf = (ds: string) =>
  JSON.parse(readFileSync(path.join(s.dir, 'out', `ds=${ds}`, '_mlscale_run.json'), 'utf8')).run_id as string;

const days: [string, number][] = [
  ['2024-01-01', 0],
  ['2024-01-02', 0],
  ['2024-01-03', 0.05],
  ['2024-01-04', 0.5],
];

beforeAll(async () => {
  // A logistic model spreads its scores over (0, 1), so the histograms have shape.
  writeFileSync(path.join(s.dir, 'model.onnx'), logisticModel({ weights: [3, -2, 1.5, -1], bias: -0.5 }));
  const job = jobFile('job.yaml', 'parquet: { path: "out/ds={{ ds }}" }');
  for (const [i, [ds, shift]] of days.entries()) {
    day(ds, i + 1, shift);
    const r = await mlscale(['score', '--job', job, '--param', `ds=${ds}`], { cwd: s.dir });
    expect(errorLine(r)).toBe('');
  }
  if (!skipPg) {
    schema = await tempSchema('e2e_report');
    const pgJob = jobFile('pg.yaml', `postgres: { url: "\${DATABASE_URL}", table: ${schema.name}.report_scores }`);
    for (const [ds] of days.slice(0, 3)) {
      const r = await mlscale(['score', '--job', pgJob, '--param', `ds=${ds}`], { cwd: s.dir, env });
      expect(errorLine(r)).toBe('');
    }
  }
});

describe('mlscale report', () => {
  it('writes one self-contained page: facts, histograms against the baseline, drift worst first, trend', async () => {
    const r = await mlscale(['report', '--job', 'report_daily', '--dir', 'out', '--out', 'report.html'], {
      cwd: s.dir,
    });
    expect(errorLine(r)).toBe('');
    const html = readFileSync(path.join(s.dir, 'report.html'), 'utf8');
    expect(html).not.toMatch(/<script|<link|src="http|href="http/);
    expect(html).toContain('<h1>report_daily — partition 2024-01-04</h1>');
    expect(html).toMatch(/<p class="headline verdict-drifted">.*\d column\(s\) drifted \(PSI over 0\.2\)/);
    const rows = [...html.matchAll(/<tr class="(drifted)?"><td>(x\d)<\/td><td class="num">([\d.]+)<\/td>/g)];
    expect(rows.map((m) => m[2]).sort()).toEqual(['x0', 'x1', 'x2', 'x3']);
    const psis = rows.map((m) => Number(m[3]));
    expect(psis).toEqual([...psis].sort((a, b) => b - a));
    expect(rows.every((m) => m[1] === 'drifted')).toBe(true);
    // Sections in the job's output order; the label as class shares.
    expect([...html.matchAll(/<section class="prediction" data-column="(\w+)"><h3>/g)].map((m) => m[1])).toEqual([
      'score',
      'label',
    ]);
    expect(html).toMatch(/<p>2 class\(es\): 0 [\d.]+%, 1 [\d.]+%, PSI against the baseline/);
    expect(html).toContain(
      'The mean of <b class="trend-column">score</b>, the first float prediction column in the job&#39;s output order; the axis starts at 0.',
    );
    const missing = await mlscale(['report', 'no-such-run', '--dir', 'out'], { cwd: s.dir });
    expect(missing.code).toBe(2);
    expect(errorLine(missing)).toBe(
      `error: report: run no-such-run is not in the ledger (looked in ${path.join(s.dir, 'out')}); list runs with mlscale runs.`,
    );
  });

  describe.skipIf(!haveChromium)('in headless Chromium', () => {
    let browser: Browser;
    beforeAll(async () => {
      const { chromium } = await import('playwright-core');
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
    });
    afterAll(async () => {
      await browser?.close();
    });

    /** Renders the report of a run (or of a job's newest run) and opens it. */
    async function open(args: string[], file: string, runEnv: NodeJS.ProcessEnv = {}) {
      const r = await mlscale(['report', ...args, '--out', file], { cwd: s.dir, env: runEnv });
      expect(errorLine(r)).toBe('');
      const page = await browser.newPage({ viewport: { width: 1024, height: 900 } });
      await page.goto(`file://${path.join(s.dir, file)}`);
      return page;
    }

    /** What the page draws, measured in the browser. */
    const measure = () => {
      const attrs = (root: Element, sel: string) =>
        Array.from(root.querySelectorAll(sel)).map((e) => ({
          x: Number(e.getAttribute('x')),
          width: Number(e.getAttribute('width')),
          height: (e as SVGGraphicsElement).getBBox().height,
        }));
      const charts = Array.from(document.querySelectorAll('svg.histogram')).map((svg) => ({
        column: svg.getAttribute('data-column'),
        kind: svg.classList.contains('classes') ? 'classes' : 'bins',
        current: attrs(svg, '.bar-current'),
        baseline: attrs(svg, '.bar-baseline'),
      }));
      const trend = document.querySelector('svg.trend')!;
      const ticks = Array.from(trend.querySelectorAll('.y-tick')).map((t) => ({
        value: Number(t.getAttribute('data-value')),
        y: Number(t.getAttribute('y')) - 4,
      }));
      const points = Array.from(trend.querySelectorAll('.trend-point')).map((c) => ({
        mean: Number(c.getAttribute('data-mean')),
        cy: Number(c.getAttribute('cy')),
        partition: c.getAttribute('data-partition'),
        cx: Number(c.getAttribute('cx')),
      }));
      return {
        headline: getComputedStyle(document.querySelector('.headline')!).color,
        charts,
        trendColumn: trend.getAttribute('data-column'),
        trendNote: document.querySelector('.trend-column')?.textContent,
        ticks,
        points,
        line: (trend.querySelector('.trend-line') as SVGGraphicsElement).getBBox().width,
        features: document.querySelectorAll('table.features tbody tr').length,
        drifted: document.querySelectorAll('table.features tr.drifted').length,
      };
    };

    it('draws run and baseline on the same bins, a binary label as two bars, the trend from zero', async () => {
      // The 2024-01-03 run: a small shift, so predictions still spread over many bins.
      const page = await open([runIdOf('2024-01-03'), '--dir', 'out'], 'report3.html');
      const drawn = await page.evaluate(measure);
      const score = drawn.charts.find((c) => c.column === 'score')!;
      const label = drawn.charts.find((c) => c.column === 'label')!;
      expect(score.kind).toBe('bins');
      expect(score.current.filter((b) => b.height > 0).length).toBeGreaterThanOrEqual(3);
      expect(score.baseline.filter((b) => b.height > 0).length).toBeGreaterThanOrEqual(3);
      // Same bins: every outline of the baseline sits on a bar of the run.
      for (const chart of [score, label]) {
        expect(chart.baseline.map((b) => [b.x, b.width])).toEqual(chart.current.map((b) => [b.x, b.width]));
      }
      expect(label.kind).toBe('classes');
      expect([label.current.length, label.baseline.length]).toEqual([2, 2]);
      expect(label.current.every((b) => b.height > 0)).toBe(true);
      // The trend: three runs, its axis from 0, each point as high as its mean on that axis.
      expect(drawn.points).toHaveLength(3);
      // One point per partition, left to right in partition order.
      expect(drawn.points.map((p) => p.partition)).toEqual(['2024-01-01', '2024-01-02', '2024-01-03']);
      expect(drawn.points.map((p) => p.cx)).toEqual([...drawn.points.map((p) => p.cx)].sort((a, b) => a - b));
      expect(drawn.line).toBeGreaterThan(100);
      const zero = drawn.ticks.find((t) => t.value === 0)!;
      const top = drawn.ticks.reduce((a, b) => (b.value > a.value ? b : a));
      expect(Math.min(...drawn.ticks.map((t) => t.value))).toBe(0);
      for (const p of drawn.points) expect((zero.y - p.cy) / (zero.y - top.y)).toBeCloseTo(p.mean / top.value, 2);
      expect([drawn.features, drawn.drifted]).toEqual([4, 0]);
      const shot = path.join(s.dir, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(20_000);
      if (process.env.MLSCALE_KEEP_SCREENSHOT) writeFileSync(process.env.MLSCALE_KEEP_SCREENSHOT, readFileSync(shot));
    });

    it('colours the headline by drift and gates: green only for a clean run', async () => {
      const clean = await (await open([runIdOf('2024-01-03'), '--dir', 'out'], 'clean.html')).evaluate(measure);
      const drifted = await (await open([runIdOf('2024-01-04'), '--dir', 'out'], 'drifted.html')).evaluate(measure);
      expect(clean.headline).toBe('rgb(25, 115, 74)');
      expect(drifted.headline).toBe('rgb(138, 75, 0)');
      expect(drifted.drifted).toBeGreaterThanOrEqual(2);
      // A run the drift gate failed (on_drift: fail) is red.
      day('2024-01-05', 9, 1);
      const gated = jobFile('gated.yaml', 'parquet: { path: "out/ds={{ ds }}" }', '{ on_drift: fail }');
      const r = await mlscale(['score', '--job', gated, '--param', 'ds=2024-01-05'], { cwd: s.dir });
      expect(r.code).toBe(3);
      const failed = JSON.parse(
        (await mlscale(['runs', '--dir', 'out', '--status', 'failed', '--json'], { cwd: s.dir })).stdout,
      ) as { run_id: string }[];
      expect(failed).toHaveLength(1);
      const red = await (await open([failed[0]!.run_id, '--dir', 'out'], 'failed.html')).evaluate(measure);
      expect(red.headline).toBe('rgb(179, 38, 30)');
    });

    it.skipIf(skipPg)('follows the same trend column for the job on Postgres as on Parquet', async () => {
      // jsonb orders keys by length, then bytes: "label" comes before "score" in the ledger row.
      const keys = await query<{ k: string }>(
        `SELECT jsonb_object_keys(stats->'predictions') AS k FROM ${schema!.name}.mlscale_runs LIMIT 2`,
      );
      expect(keys.map((r) => r.k)).toEqual(['label', 'score']);
      const pg = await (await open(['--job', 'pg.yaml'], 'pg.html', env)).evaluate(measure);
      const pq = await (await open([runIdOf('2024-01-03'), '--dir', 'out'], 'pq.html')).evaluate(measure);
      expect([pg.trendColumn, pg.trendNote]).toEqual(['score', 'score']);
      expect([pq.trendColumn, pq.trendNote]).toEqual(['score', 'score']);
      expect(pg.points.map((p) => p.mean)).toHaveLength(3);
      expect(pg.charts.map((c) => [c.column, c.kind])).toEqual(pq.charts.map((c) => [c.column, c.kind]));
    });
  });
});
