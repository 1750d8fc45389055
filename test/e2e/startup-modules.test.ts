import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, mlscale } from '../support/cli.js';
import { scratchDir } from '../support/job.js';
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

describe('a score run', () => {
  it("requires no package from disk on its main thread beyond protobufjs's optional long", async () => {
    const job = s.file(
      'job.yaml',
      `name: modules
model: { path: model.onnx, features: [f0, f1] }
source: { parquet: { path: "data/*.parquet" } }
key: [id]
sink: { parquet: { path: "out/ds={{ ds }}" } }
`,
    );
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
});
