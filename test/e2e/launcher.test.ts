import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/paths.js';
import { scratchDir } from '../support/job.js';

// bin/mlscale is the command npm links (package.json's bin): a shell launcher that sets glibc's
// allocator for the process and execs bin/mlscale.js. A `node` of the test's own, first on PATH,
// shows what the launcher hands over: its environment, its arguments and its process id.
const s = scratchDir('launcher');
const launcher = path.join(repoRoot, 'bin', 'mlscale');
const fakeBin = path.join(s.dir, 'fake-bin');
mkdirSync(fakeBin);
writeFileSync(
  path.join(fakeBin, 'node'),
  `#!/bin/sh
echo "pid=$$"
echo "arena=$MALLOC_ARENA_MAX"
echo "mmap=$MALLOC_MMAP_THRESHOLD_"
echo "tunables=$GLIBC_TUNABLES"
for a in "$@"; do echo "arg=$a"; done
exit 7
`,
);
chmodSync(path.join(fakeBin, 'node'), 0o755);

afterAll(() => s.remove());

function launch(command: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(command, args, {
    encoding: 'utf8',
    env: {
      ...process.env,
      MALLOC_ARENA_MAX: '',
      MALLOC_MMAP_THRESHOLD_: '',
      GLIBC_TUNABLES: '',
      ...env,
      PATH: `${fakeBin}:${process.env.PATH}`,
    },
  });
  const lines = r.stdout.trim().split('\n');
  const one = (k: string) => lines.find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1);
  return { r, one, args: lines.filter((l) => l.startsWith('arg=')).map((l) => l.slice(4)) };
}

describe('the mlscale launcher (bin/mlscale)', () => {
  it('is the package bin, and sets two malloc arenas, a fixed mmap threshold and huge pages for malloc unless already set', () => {
    expect((JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { bin: unknown }).bin).toEqual({
      mlscale: 'bin/mlscale',
    });
    const env = { ...process.env };
    delete env.MALLOC_ARENA_MAX;
    delete env.MALLOC_MMAP_THRESHOLD_;
    delete env.GLIBC_TUNABLES;
    const r = spawnSync(launcher, ['--version'], { encoding: 'utf8', env: { ...env, PATH: `${fakeBin}:${env.PATH}` } });
    expect(r.stdout).toContain('arena=2\n');
    expect(r.stdout).toContain('mmap=4194304\n');
    expect(r.stdout).toContain('tunables=glibc.malloc.hugetlb=1\n');
    // A user's own settings win.
    const own = launch(launcher, ['--version'], { MALLOC_ARENA_MAX: '8', MALLOC_MMAP_THRESHOLD_: '131072' });
    expect([own.one('arena'), own.one('mmap')]).toEqual(['8', '131072']);
    // Set but empty is set too: kept.
    const empty = launch(launcher, ['--version'], { MALLOC_ARENA_MAX: '', MALLOC_MMAP_THRESHOLD_: '' });
    expect([empty.one('arena'), empty.one('mmap')]).toEqual(['', '']);
    // Tunables: a user's other ones are kept beside ours, and their own hugetlb wins (0 turns it off).
    expect(launch(launcher, ['--version']).one('tunables')).toBe('glibc.malloc.hugetlb=1');
    expect(launch(launcher, ['--version'], { GLIBC_TUNABLES: 'glibc.malloc.check=3' }).one('tunables')).toBe(
      'glibc.malloc.check=3:glibc.malloc.hugetlb=1',
    );
    for (const mine of ['glibc.malloc.hugetlb=0', 'glibc.malloc.tcache_count=0:glibc.malloc.hugetlb=2'])
      expect(launch(launcher, ['--version'], { GLIBC_TUNABLES: mine }).one('tunables')).toBe(mine);
    // Near the kernel's 128 KiB for one environment string, ours is left out rather than the exec failing.
    const long = `glibc.malloc.check=0:${'a'.repeat(131_019)}=1`;
    const near = launch(launcher, ['--version'], { GLIBC_TUNABLES: long });
    expect(near.r.status).toBe(7);
    expect(near.one('tunables')).toBe(long);
  });

  it('runs bin/mlscale.js through npm-style links (absolute, relative, chained), in the same process, with every argument as given and its exit code', () => {
    const direct = path.join(s.dir, 'links', 'abs');
    mkdirSync(path.dirname(direct), { recursive: true });
    symlinkSync(launcher, direct);
    // node_modules/.bin/mlscale -> ../mlscale/bin/mlscale, and a link to that link.
    const rel = path.join(s.dir, 'links', 'rel');
    symlinkSync(path.relative(path.dirname(rel), launcher), rel);
    const chained = path.join(s.dir, 'chained');
    symlinkSync(rel, chained);
    // npm's global layout with the bin directory itself a link (~/bin -> <prefix>/bin): the
    // relative link inside climbs out of the linked directory, not out of its link.
    const prefix = path.join(s.dir, 'prefix');
    mkdirSync(path.join(prefix, 'lib', 'node_modules'), { recursive: true });
    mkdirSync(path.join(prefix, 'bin'));
    symlinkSync(repoRoot, path.join(prefix, 'lib', 'node_modules', 'mlscale'));
    symlinkSync('../lib/node_modules/mlscale/bin/mlscale', path.join(prefix, 'bin', 'mlscale'));
    symlinkSync(path.join(prefix, 'bin'), path.join(s.dir, 'home-bin'));
    const viaLinkedDir = path.join(s.dir, 'home-bin', 'mlscale');
    const args = ['score', '--job', 'a job with spaces.yaml', '--param', 'x=$HOME "q" *', ''];
    for (const command of [launcher, direct, rel, chained, viaLinkedDir]) {
      const { r, one, args: got } = launch(command, args);
      expect(r.status, command).toBe(7);
      expect(got[0]).toBe('--max-semi-space-size=4');
      // As node reads it: the path's text normalized (`..` cancelled), then its links followed.
      expect(realpathSync(path.resolve(got[1]!)), command).toBe(path.join(realpathSync(repoRoot), 'bin', 'mlscale.js'));
      expect(got.slice(2)).toEqual(args);
      // exec: node is the process that was started, not a child of a shell left waiting.
      expect(Number(one('pid'))).toBe(r.pid);
    }
  });

  it("caps V8's young generation at 4 MB a semi-space, unless NODE_OPTIONS sets it", () => {
    expect(launch(launcher, ['--version']).args.slice(0, 1)).toEqual(['--max-semi-space-size=4']);
    // Node reads - and _ alike in an option's name.
    for (const mine of ['--max-semi-space-size=32', '--max_semi_space_size=32', '--max-semi_space-size=32']) {
      const own = launch(launcher, ['--version'], { NODE_OPTIONS: `--max-old-space-size=512 ${mine}` });
      expect(own.r.status, mine).toBe(7);
      expect(own.args[0], mine).toMatch(/bin\/mlscale\.js$/);
      expect(own.args.slice(1), mine).toEqual(['--version']);
    }
    // Other NODE_OPTIONS leave it in place.
    expect(launch(launcher, ['--version'], { NODE_OPTIONS: '--max-old-space-size=512' }).args[0]).toBe(
      '--max-semi-space-size=4',
    );
  });

  it('needs nothing on PATH but node when run by its own path, and says so when a link needs readlink', () => {
    const r = spawnSync(launcher, ['--version'], { encoding: 'utf8', env: { PATH: fakeBin } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(7);
    expect(r.stdout).toContain('arg=--version');
    const link = path.join(s.dir, 'no-readlink', 'mlscale');
    mkdirSync(path.dirname(link));
    symlinkSync(launcher, link);
    const linked = spawnSync(link, ['--version'], { encoding: 'utf8', env: { PATH: fakeBin } });
    expect(linked.status).toBe(127);
    expect(linked.stdout).toBe('');
    expect(linked.stderr).toContain(`mlscale: cannot follow the link ${link}: readlink is not on PATH`);
  });

  it('runs from a relative path that starts with a dash, which node must not read as an option', () => {
    const dir = path.join(s.dir, 'dash');
    mkdirSync(path.join(dir, '-x'), { recursive: true });
    symlinkSync(repoRoot, path.join(dir, '-x', 'pkg'));
    const r = spawnSync('sh', ['--', '-x/pkg/bin/mlscale', '--version'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, PATH: `${fakeBin}:${process.env.PATH}` },
    });
    expect(r.status).toBe(7);
    const script = [...r.stdout.matchAll(/^arg=(.*)$/gm)][1]![1]!;
    expect(script.startsWith('-')).toBe(false);
    expect(realpathSync(path.resolve(dir, script))).toBe(path.join(realpathSync(repoRoot), 'bin', 'mlscale.js'));
  });

  it('runs the real CLI', () => {
    const r = spawnSync(launcher, ['--version'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(
      (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version,
    );
  });
});
