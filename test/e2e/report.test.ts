import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Table, makeVector } from 'apache-arrow';
import { errorLine, mlscale } from '../support/cli.js';
import { writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';
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
afterAll(() => s.remove());

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

beforeAll(async () => {
  // A logistic model spreads its scores over (0, 1), so the histograms have shape.
  writeFileSync(path.join(s.dir, 'model.onnx'), logisticModel({ weights: [3, -2, 1.5, -1], bias: -0.5 }));
  const job = s.file(
    'job.yaml',
    `name: report_daily\nmodel:\n  path: model.onnx\n  features: [x0, x1, x2, x3]\nsource:\n  parquet: { path: "in/ds={{ ds }}" }\nkey: [id]\nmonitor: { on_drift: warn }\nsink:\n  parquet: { path: "out/ds={{ ds }}" }\n`,
  );
  const days: [string, number][] = [
    ['2024-01-01', 0],
    ['2024-01-02', 0],
    ['2024-01-03', 0.05],
    ['2024-01-04', 0.5],
  ];
  for (const [i, [ds, shift]] of days.entries()) {
    day(ds, i + 1, shift);
    const r = await mlscale(['score', '--job', job, '--param', `ds=${ds}`], { cwd: s.dir });
    expect(errorLine(r)).toBe('');
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
    expect(html).toMatch(/\d column\(s\) drifted \(PSI over 0\.2\)/);
    const rows = [...html.matchAll(/<tr class="(drifted)?"><td>(x\d)<\/td><td class="num">([\d.]+)<\/td>/g)];
    expect(rows.map((m) => m[2]).sort()).toEqual(['x0', 'x1', 'x2', 'x3']);
    const psis = rows.map((m) => Number(m[3]));
    expect(psis).toEqual([...psis].sort((a, b) => b - a));
    expect(rows.every((m) => m[1] === 'drifted')).toBe(true);
    expect(html).toMatch(/<section class="prediction"><h3>score<\/h3>/);
    const missing = await mlscale(['report', 'no-such-run', '--dir', 'out'], { cwd: s.dir });
    expect(missing.code).toBe(2);
    expect(errorLine(missing)).toBe(
      `error: report: run no-such-run is not in the ledger (looked in ${path.join(s.dir, 'out')}); list runs with mlscale runs.`,
    );
  });

  it.skipIf(!haveChromium)('renders in headless Chromium with the charts drawn', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
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
    try {
      // The 2024-01-03 run: a small shift, so predictions still spread over many bins.
      const runId = JSON.parse(
        readFileSync(path.join(s.dir, 'out', 'ds=2024-01-03', '_mlscale_run.json'), 'utf8'),
      ).run_id;
      expect((await mlscale(['report', runId, '--dir', 'out', '--out', 'report3.html'], { cwd: s.dir })).code).toBe(0);
      const page = await browser.newPage({ viewport: { width: 1024, height: 900 } });
      await page.goto(`file://${path.join(s.dir, 'report3.html')}`);
      const drawn = await page.evaluate(() => {
        const heights = (sel: string) =>
          Array.from(document.querySelectorAll(sel)).map((e) => (e as SVGGraphicsElement).getBBox().height);
        return {
          current: heights('.histogram .bar-current'),
          baseline: heights('.histogram .bar-baseline'),
          trend: document.querySelectorAll('.trend .trend-point').length,
          line: (document.querySelector('.trend .trend-line') as SVGGraphicsElement).getBBox().width,
          features: document.querySelectorAll('table.features tbody tr').length,
          drifted: document.querySelectorAll('table.features tr.drifted').length,
        };
      });
      expect(drawn.current.length).toBe(20); // score and label, 10 bins each
      expect(drawn.current.filter((h) => h > 0).length).toBeGreaterThanOrEqual(3);
      expect(drawn.baseline.filter((h) => h > 0).length).toBeGreaterThanOrEqual(3);
      expect(drawn.trend).toBe(3);
      expect(drawn.line).toBeGreaterThan(100);
      expect([drawn.features, drawn.drifted]).toEqual([4, 0]);
      const shot = path.join(s.dir, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(20_000);
      if (process.env.MLSCALE_KEEP_SCREENSHOT) writeFileSync(process.env.MLSCALE_KEEP_SCREENSHOT, readFileSync(shot));
    } finally {
      await browser.close();
    }
  });
});
