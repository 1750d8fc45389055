import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onnxFixture, repoRoot } from '../support/paths.js';

// The packed tarball, installed as an operator would: into a project, globally, and through npx.
// ONNXRUNTIME_NODE_INSTALL=skip: without it onnxruntime-node's postinstall downloads CUDA
// libraries (and fails where it cannot reach api.nuget.org); package.json's allowScripts cannot
// reach an install outside this project. --prefer-offline: the dependencies come from npm's cache
// when `npm ci` has filled it, so this needs the registry only for what the cache lacks.
const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
  version: string;
  files: string[];
  scripts: Record<string, string>;
};
const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_update_notifier: 'false' };
const npmFlags = ['--prefer-offline', '--no-audit', '--no-fund'];
let tmp = '';
let tarball = '';
let packed: string[] = [];

function npm(args: string[], cwd: string) {
  const r = spawnSync('npm', args, { cwd, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} (exit ${r.status}):\n${r.stderr.slice(-3000)}`);
  return r.stdout;
}

const mlscale = (bin: string, ...args: string[]) => execFileSync(bin, args, { env, encoding: 'utf8' }).trim();

beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'mlscale-pack-'));
  // npm pack runs prepack (removes dist/) and prepare (builds it): in a copy, so the working tree's
  // dist/, which other tests run, is never touched.
  const src = path.join(tmp, 'src');
  for (const p of [
    'package.json',
    'package-lock.json',
    '.npmrc',
    'tsconfig.json',
    'README.md',
    'src',
    'bin',
    'jobs',
    'scripts',
  ])
    if (existsSync(path.join(repoRoot, p))) cpSync(path.join(repoRoot, p), path.join(src, p), { recursive: true });
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(src, 'node_modules'));
  const [info] = JSON.parse(npm(['pack', '--json', '--pack-destination', tmp], src)) as {
    filename: string;
    files: { path: string }[];
  }[];
  tarball = path.join(tmp, info!.filename);
  packed = info!.files.map((f) => f.path);
}, 180_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('npm ci builds dist/ (prepare); the tarball holds the built CLI and the shim, not the sources', () => {
    expect(pkg.scripts.prepare).toBe('npm run build');
    expect(pkg.files).toEqual(['bin', 'dist', 'jobs']);
    expect(packed).toEqual(
      expect.arrayContaining(['bin/mlscale', 'bin/mlscale.js', 'package.json', 'jobs/job.schema.json']),
    );
    // One compiled file per source file, and no other (prepack removed what an older build left).
    const sources = readdirSync(path.join(tmp, 'src', 'src'), { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.ts'),
    );
    const compiled = packed.filter((f) => f.startsWith('dist/') && f.endsWith('.js'));
    expect(compiled.sort()).toEqual(
      sources.map((f) => `dist/${f.replace(/\.ts$/, '.js').split(path.sep).join('/')}`).sort(),
    );
    expect(packed.filter((f) => !/^(bin|dist|jobs)\/|^(package\.json|README\.md)$/.test(f))).toEqual([]);
  });

  it('installed into an empty project: mlscale --version, inspect, and npx mlscale', { timeout: 180_000 }, () => {
    const project = path.join(tmp, 'project');
    mkdirSync(project);
    npm(['install', tarball, ...npmFlags], project);
    const bin = path.join(project, 'node_modules', '.bin', 'mlscale');
    expect(mlscale(bin, '--version')).toBe(pkg.version);
    const model = JSON.parse(mlscale(bin, 'inspect', onnxFixture('rf_iris.onnx'), '--json')) as {
      inputs: { name: string }[];
    };
    expect(model.inputs.map((i) => i.name)).toEqual(['float_input']);
    expect(npm(['exec', '--', 'mlscale', '--version'], project).trim()).toBe(pkg.version);
  });

  it('npm install -g: mlscale --version', { timeout: 180_000 }, () => {
    const prefix = path.join(tmp, 'global');
    npm(['install', '-g', '--prefix', prefix, tarball, ...npmFlags], tmp);
    expect(mlscale(path.join(prefix, 'bin', 'mlscale'), '--version')).toBe(pkg.version);
  });

  it('npx --package=<tarball>: mlscale --version', { timeout: 180_000 }, () => {
    // npx installs into <cache>/_npx: a cache of its own whose content store is npm's, so nothing
    // is left in ~/.npm/_npx and nothing is downloaded twice.
    const cache = path.join(tmp, 'npx-cache');
    mkdirSync(cache);
    symlinkSync(path.join(npm(['config', 'get', 'cache'], tmp).trim(), '_cacache'), path.join(cache, '_cacache'));
    const out = npm(
      ['exec', '--yes', '--cache', cache, '--package', tarball, ...npmFlags, '--', 'mlscale', '--version'],
      tmp,
    );
    expect(out.trim()).toBe(pkg.version);
  });
});
