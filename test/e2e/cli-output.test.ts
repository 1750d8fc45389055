import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, mlscale, type CliResult } from '../support/cli.js';
import { scratchDir } from '../support/job.js';
import { bin } from '../support/paths.js';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { logisticModel } from '../../scripts/lib/onnx-builder.mjs';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { writeFeatureFiles } from '../../scripts/lib/parquet-data.mjs';

// Where the CLI's output goes: a report file that cannot be written is a usage error naming it,
// and a reader that closes stdout early (`| head -1`) ends the command quietly.

const s = scratchDir('cliout');
let runId = '';

beforeAll(async () => {
  writeFileSync(path.join(s.dir, 'model.onnx'), logisticModel({ weights: [1.5, -2, 0.5], bias: 0.1, inputName: 'x' }));
  writeFeatureFiles(path.join(s.dir, 'data'), { rows: 500, features: 3 });
  const job = s.file(
    'job.yaml',
    `name: cli_out
model:
  path: model.onnx
  features: [f0, f1, f2]
source:
  parquet: { path: data }
key: [id]
sink:
  parquet: { path: "out/ds={{ ds }}" }
`,
  );
  for (const ds of ['2024-01-01', '2024-01-02', '2024-01-03']) {
    const r = await mlscale(['score', '--job', job, '--param', `ds=${ds}`], { cwd: s.dir });
    expect(errorLine(r)).toBe('');
  }
  runId = JSON.parse(readFileSync(path.join(s.dir, 'out', 'ds=2024-01-03', '_mlscale_run.json'), 'utf8')).run_id;
});
afterAll(() => s.remove());

/** Runs mlscale with its stdout closed by the reader before it writes a byte, as `| head -0` would. */
function withClosedStdout(args: string[]): Promise<CliResult> {
  const child = spawn(process.execPath, [bin, ...args], { cwd: s.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout: '', stderr }));
  });
}

describe('report --out', () => {
  it('names a path it cannot write and what to do (exit 2)', async () => {
    const report = (out: string) => mlscale(['report', runId, '--dir', 'out', '--out', out], { cwd: s.dir });
    const missing = await report('/nonexistent/dir/x.html');
    expect(missing.code).toBe(2);
    expect(errorLine(missing)).toBe(
      'error: report: cannot write /nonexistent/dir/x.html: the directory /nonexistent/dir does not exist; create it, or pass --out a file in an existing directory.',
    );
    mkdirSync(path.join(s.dir, 'reports'));
    const dir = await report('reports');
    expect(dir.code).toBe(2);
    expect(errorLine(dir)).toBe(
      'error: report: cannot write reports: it is a directory; pass --out a file name, such as reports/report.html.',
    );
    for (const r of [missing, dir]) {
      expect(r.stdout).toBe('');
      expect(r.stderr).not.toMatch(/ENOENT|EISDIR|\n\s+at /);
    }
    const ok = await report('reports/report.html');
    expect(errorLine(ok)).toBe('');
    expect(ok.stdout).toBe('reports/report.html\n');
    expect(readFileSync(path.join(s.dir, 'reports', 'report.html'), 'utf8')).toMatch(/^<!doctype html>/i);
  });
});

describe('a closed stdout', () => {
  it('ends runs, report and validate quietly with exit 0', async () => {
    for (const args of [
      ['runs', '--dir', 'out'],
      ['runs', '--dir', 'out', '--json'],
      ['report', runId, '--dir', 'out'],
      ['validate', '--job', 'job.yaml'],
    ]) {
      const r = await withClosedStdout(args);
      expect(r.stderr, args.join(' ')).toBe('');
      expect(r.code, args.join(' ')).toBe(0);
    }
    expect(existsSync(path.join(s.dir, 'out', 'ds=2024-01-03', '_SUCCESS'))).toBe(true);
  });
});
