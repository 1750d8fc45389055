import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  cpSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/paths.js';
import { scratchDir } from '../support/job.js';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { logisticModel } from '../../scripts/lib/onnx-builder.mjs';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { writeFeatureFiles } from '../../scripts/lib/parquet-data.mjs';

// bin/mlscale.js compiles the CLI's bundle with V8's code cache, kept beside the bundle. Each
// test works on its own copy of bin/ and dist/, so the repository's cache is never touched.
const s = scratchDir('code-cache');
const install = path.join(s.dir, 'install');
const dist = path.join(install, 'dist');
const bundle = path.join(dist, 'mlscale.cjs');

beforeAll(() => {
  for (const d of ['bin', 'dist']) cpSync(path.join(repoRoot, d), path.join(install, d), { recursive: true });
  cpSync(path.join(repoRoot, 'package.json'), path.join(install, 'package.json'));
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(install, 'node_modules'));
  for (const f of caches()) rmSync(path.join(dist, f));
  writeFileSync(path.join(s.dir, 'model.onnx'), logisticModel({ weights: [1, -1], bias: 0, inputName: 'x' }));
  writeFeatureFiles(path.join(s.dir, 'data'), { rows: 500, features: 2, files: 1, rowGroupSize: 500 });
  s.file(
    'job.yaml',
    `name: cache_job
model: { path: model.onnx, features: [f0, f1] }
source: { parquet: { path: data } }
key: [id]
sink: { parquet: { path: "out/ds={{ ds }}" } }
`,
  );
});
afterAll(() => s.remove());

const caches = (): string[] => readdirSync(dist).filter((f) => f.endsWith('.v8cache'));
const cacheFile = () => path.join(dist, caches()[0]!);

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(install, 'bin', 'mlscale.js'), ...args], {
    cwd: s.dir,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const score = () => run('score', '--job', path.join(s.dir, 'job.yaml'), '--param', 'ds=2024-01-01', '--json');

describe('the code cache of the CLI', () => {
  it('is written by the first command, replaced once by a successful score run, then only read', () => {
    expect(caches()).toEqual([]);
    expect(run('--version').code).toBe(0);
    expect(caches()).toEqual([expect.stringMatching(/-other\.v8cache$/)]);
    const small = statSync(cacheFile()).size;
    const r = score();
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    // The score run compiled far more of the bundle than --version did.
    expect(caches()).toEqual([expect.stringMatching(/-score\.v8cache$/)]);
    const written = statSync(cacheFile());
    expect(written.size).toBeGreaterThan(small);
    // A cache V8 rejects would be written again: this one is read as it is.
    expect(score().code).toBe(0);
    expect(run('--version').code).toBe(0);
    const after = statSync(cacheFile());
    expect({ ino: after.ino, mtimeMs: after.mtimeMs }).toEqual({ ino: written.ino, mtimeMs: written.mtimeMs });
  });

  it('survives a damaged cache: truncated or overwritten, the CLI compiles as without one and rewrites it', () => {
    const file = cacheFile();
    expect(file).toMatch(/-score\.v8cache$/);
    truncateSync(file, Math.floor(statSync(file).size / 2));
    expect(run('--version').stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    // Rejected, so replaced by what --version compiled.
    expect(caches()).toEqual([expect.stringMatching(/-other\.v8cache$/)]);
    writeFileSync(cacheFile(), Buffer.alloc(4096, 7));
    const r = score();
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', rowsWritten: 500 });
    expect(caches()).toEqual([expect.stringMatching(/-score\.v8cache$/)]);
    expect(statSync(cacheFile()).size).toBeGreaterThan(100_000);
  });

  it('is never read for another build of the bundle: a rebuilt bundle writes its own and the old one goes', () => {
    const old = caches();
    appendFileSync(bundle, '\n// rebuilt\n');
    const r = score();
    expect(r.code).toBe(0);
    expect(caches()).toHaveLength(1);
    expect(caches()).not.toEqual(old);
  });
});
