import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
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
const stamp = () => {
  const st = statSync(cacheFile());
  return { ino: st.ino, mtimeMs: st.mtimeMs };
};

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [path.join(install, 'bin', 'mlscale.js'), ...args], {
    cwd: s.dir,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

const score = () => run(['score', '--job', path.join(s.dir, 'job.yaml'), '--param', 'ds=2024-01-01', '--json']);

describe('the code cache of the CLI', () => {
  it('is written by the first command, replaced once by a score run that scored, then only read', () => {
    expect(caches()).toEqual([]);
    expect(run(['--version']).code).toBe(0);
    expect(caches()).toHaveLength(1);
    const small = statSync(cacheFile()).size;
    const r = score();
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    // The score run compiled far more of the bundle than --version did.
    expect(statSync(cacheFile()).size).toBeGreaterThan(small);
    const written = stamp();
    // A cache that could not be used would be written again: this one is read as it is, and
    // `score --help` (exit 0, nothing compiled) does not replace it.
    expect(score().code).toBe(0);
    expect(run(['--version']).code).toBe(0);
    expect(run(['score', '--help']).code).toBe(0);
    expect(stamp()).toEqual(written);
  });

  it('never hands V8 a damaged cache: bits flipped, truncated or overwritten, the CLI compiles and rewrites it', () => {
    const good = readFileSync(cacheFile());
    // V8 itself checks only the header: flipped bits in the data crashed the process (SIGTRAP, SIGSEGV).
    const flipped = Buffer.from(good);
    for (let i = 0; i < 16; i++) flipped[200 + Math.floor(((flipped.length - 400) * i) / 16)]! ^= 0x24;
    const damaged = [flipped, good.subarray(0, Math.floor(good.length / 2)), Buffer.alloc(4096, 7)];
    for (const bytes of damaged) {
      writeFileSync(cacheFile(), bytes);
      const r = score();
      expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
      expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', rowsWritten: 500 });
      expect(readFileSync(cacheFile()).equals(bytes)).toBe(false);
      expect(statSync(cacheFile()).size).toBeGreaterThan(100_000);
    }
  });

  it('is never read for another build of the bundle, even one of the same size and time', () => {
    const before = statSync(bundle);
    const text = readFileSync(bundle, 'utf8');
    const from = 'does not exist; check the --job path';
    expect(text).toContain(from);
    writeFileSync(bundle, text.replace(from, from.toUpperCase()));
    utimesSync(bundle, before.atime, before.mtime);
    expect(statSync(bundle).size).toBe(before.size);
    const r = run(['score', '--job', path.join(s.dir, 'missing.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(from.toUpperCase());
  });

  it('keeps one cache per set of V8 options, so that runs started with other flags do not rewrite each other', () => {
    expect(score().code).toBe(0);
    const plain = stamp();
    expect(run(['--version'], { NODE_OPTIONS: '--max-old-space-size=3000' }).code).toBe(0);
    expect(caches()).toHaveLength(2);
    expect(score().code).toBe(0);
    const again = statSync(
      path.join(
        dist,
        caches().find((f) => statSync(path.join(dist, f)).ino === plain.ino)!,
      ),
    );
    expect({ ino: again.ino, mtimeMs: again.mtimeMs }).toEqual(plain);
  });
});
