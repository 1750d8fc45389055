import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, mlscale } from '../support/cli.js';
import { scratchDir } from '../support/job.js';
import { bin } from '../support/paths.js';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { logisticModel } from '../../scripts/lib/onnx-builder.mjs';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { writeFeatureFiles } from '../../scripts/lib/parquet-data.mjs';

// The CLI is one bundled file, compiled from V8's code cache; a package the bundle leaves to be
// required from disk is compiled anew on every run, before the first chunk (fdir's picomatch took
// 30 ms of it). The main thread of a Parquet run loads none but those it must.
const s = scratchDir('startup-modules');
const preload = path.join(s.dir, 'record-modules.cjs');
const recorded = path.join(s.dir, 'modules.json');

beforeAll(() => {
  writeFileSync(
    preload,
    `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(recorded)}, JSON.stringify(Object.keys(require.cache))));\n`,
  );
  writeFileSync(path.join(s.dir, 'model.onnx'), logisticModel({ weights: [1, -1], bias: 0, inputName: 'x' }));
  writeFeatureFiles(path.join(s.dir, 'data'), { rows: 2000, features: 2, files: 2, rowGroupSize: 1000 });
});
afterAll(() => s.remove());

/** A job over the test's Parquet files and model, into the Parquet tree at `out`. */
const parquetJob = (name: string, out: string) =>
  s.file(
    `${name}.yaml`,
    `name: ${name}
model: { path: model.onnx, features: [f0, f1] }
source: { parquet: { path: "data/*.parquet" } }
key: [id]
sink: { parquet: { path: "${out}" } }
`,
  );

describe('a score run', () => {
  it("requires no package from disk on its main thread beyond protobufjs's optional long", async () => {
    const job = parquetJob('modules', 'out/ds={{ ds }}');
    const r = await mlscale(['score', '--job', job, '--param', 'ds=2024-01-01'], {
      cwd: s.dir,
      env: { NODE_OPTIONS: `--require ${preload}` },
    });
    expect(errorLine(r)).toBe('');
    expect(r.code).toBe(0);
    const fromDisk = (JSON.parse(readFileSync(recorded, 'utf8')) as string[])
      .filter((f) => f.includes(`${path.sep}node_modules${path.sep}`))
      .map((f) => f.split(`${path.sep}node_modules${path.sep}`).pop()!.split(path.sep)[0]!);
    expect([...new Set(fromDisk)]).toEqual(['long']);
  });

  // bin/mlscale.js starts the Parquet thread before the bundle loads when the job file names
  // Parquet (test/parquet-thread-early.test.ts: the run adopts it); it finds the file in either
  // spelling of --job, and a job that fails to load ends it with the usual sentence.
  it('reads the job named by --job=FILE as by --job FILE', async () => {
    const job = parquetJob('equals', 'out-equals');
    const r = await mlscale(['score', `--job=${job}`], { cwd: s.dir });
    expect(errorLine(r)).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('written 2000');
  });

  it('reads a job given through a pipe (--job /dev/stdin), which can be read only once', () => {
    // Paths in a piped job are relative to /dev: absolute here.
    const job = s.file(
      'piped.yaml',
      readFileSync(parquetJob('piped', 'out-piped'), 'utf8')
        .replace('model.onnx', path.join(s.dir, 'model.onnx'))
        .replace('data/*.parquet', path.join(s.dir, 'data', '*.parquet'))
        .replace('out-piped', path.join(s.dir, 'out-piped')),
    );
    const r = spawnSync('sh', ['-c', 'cat "$1" | "$2" "$3" score --job /dev/stdin', 'sh', job, process.execPath, bin], {
      cwd: s.dir,
      encoding: 'utf8',
    });
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('written 2000');
  });

  it('a job naming Parquet that fails to load exits 2 with its sentence, the early thread ended', async () => {
    const job = s.file('bad.yaml', `name: bad\nsource: { parquet: { path: "data/*.parquet" } }\nbogus: 1\n`);
    const started = Date.now();
    const r = await mlscale(['score', '--job', job], { cwd: s.dir });
    expect(r.code).toBe(2);
    expect(errorLine(r)).toMatch(/bogus/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
