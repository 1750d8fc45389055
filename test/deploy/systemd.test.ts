import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { deployDir, expectValidCommand, readDeploy, which, words } from './support.js';

/** A unit file's [Service] (or other section) keys, each with every value it is given. */
function section(file: string, name = 'Service'): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  let current = '';
  for (const line of readDeploy(`systemd/${file}`).split('\n')) {
    if (/^\[.+\]$/.test(line)) current = line.slice(1, -1);
    else if (current === name && /^[A-Za-z]+=/.test(line)) {
      const [key, value] = [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)];
      keys.set(key, [...(keys.get(key) ?? []), value]);
    }
  }
  return keys;
}

const units = ['mlscale-score@x.service', 'mlscale-schedule.service', 'mlscale-score@x.timer'];
const services = ['mlscale-score@x.service', 'mlscale-schedule.service'];
const hostUnits = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((d) =>
  existsSync(path.join(d, 'sysinit.target')),
);
const analyze = which('systemd-analyze');
const version = analyze
  ? Number(/systemd (\d+)/.exec(spawnSync(analyze, ['--version'], { encoding: 'utf8' }).stdout)?.[1])
  : 0;
if (!analyze || !hostUnits)
  console.warn(
    'systemd-analyze or the host’s unit files are missing: `systemd-analyze verify` is skipped; the keys are still checked.',
  );

const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

/**
 * A file system root holding the host's units, ours as an operator installs them (the drop-in
 * directory included), and stand-ins for `mlscale` at `bin` and /bin/kill: systemd-analyze checks
 * that each command exists, and a bare `mlscale` is looked up on systemd's own search path.
 */
function root(bin: string, edit?: (dir: string) => void): string {
  const r = mkdtempSync(path.join(tmpdir(), 'mlscale-systemd-'));
  roots.push(r);
  cpSync(hostUnits!, path.join(r, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  cpSync(path.join(deployDir, 'systemd'), path.join(r, 'etc/systemd/system'), { recursive: true });
  for (const exe of [path.join(bin, 'mlscale'), 'bin/kill']) {
    mkdirSync(path.join(r, path.dirname(exe)), { recursive: true });
    writeFileSync(path.join(r, exe), '#!/bin/sh\n');
    chmodSync(path.join(r, exe), 0o755);
  }
  edit?.(path.join(r, 'etc/systemd/system'));
  return r;
}

function run(args: string[]) {
  const r = spawnSync(analyze!, args, { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

describe('systemd units', () => {
  it('run a bare `mlscale` (found wherever npm install -g put it) with valid commands', () => {
    const exec = (unit: string) => words(section(unit).get('ExecStart')![0]!);
    const one = exec('mlscale-score@.service');
    expect(one.slice(0, 4)).toEqual(['mlscale', 'score', '--job', 'jobs/%i.yaml']);
    expectValidCommand(one.slice(1));
    const daemon = exec('mlscale-schedule.service');
    expect(daemon.slice(0, 3)).toEqual(['mlscale', 'schedule', 'jobs']);
    expectValidCommand(daemon.slice(1));
    expect(section('mlscale-schedule.service').get('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
  });

  it('a score run is one-shot, and exit 4 (another run holds the partition) is not a failure', () => {
    const s = section('mlscale-score@.service');
    expect(s.get('Type')).toEqual(['oneshot']);
    expect(s.get('SuccessExitStatus')).toEqual(['4']);
    expect(s.has('RestartPreventExitStatus') && !s.has('Restart')).toBe(false);
  });

  it('the drop-in both services get runs them as a dynamic user, read-only but for their state directory', () => {
    const h = section('mlscale-.service.d/hardening.conf');
    expect(h.get('DynamicUser')).toEqual(['yes']);
    expect(h.get('User')).toEqual(['mlscale']);
    expect(h.get('ProtectSystem')).toEqual(['strict']);
    expect(h.get('StateDirectory')).toEqual(['mlscale']);
    expect(h.get('Environment')).toEqual(['ORT_DISABLE_TELEMETRY=1']);
    // V8 needs writable and executable memory for its JIT.
    expect(h.has('MemoryDenyWriteExecute')).toBe(false);
    const daemon = words(section('mlscale-schedule.service').get('ExecStart')![0]!);
    expect(daemon[daemon.indexOf('--state') + 1]).toBe('%S/mlscale/schedule.json');
  });

  it.skipIf(!analyze || !hostUnits)(
    'systemd-analyze verify passes with mlscale in /usr/local/bin and in /usr/bin',
    () => {
      for (const bin of ['usr/local/bin', 'usr/bin']) {
        const r = run(['verify', `--root=${root(bin)}`, ...units]);
        expect(r, bin).toEqual({ status: 0, output: '' });
      }
    },
  );

  it.skipIf(!analyze || !hostUnits)('systemd-analyze verify sees the drop-in and reports a misspelt key', () => {
    const r = run([
      'verify',
      `--root=${root('usr/bin', (d) => writeFileSync(path.join(d, 'mlscale-.service.d/typo.conf'), '[Service]\nProtectSystm=strict\n'))}`,
      'mlscale-schedule.service',
    ]);
    expect(r.output).toContain("typo.conf:2: Unknown key 'ProtectSystm' in section [Service], ignoring.");
  });

  // --offline reviews the unit files themselves; exposure 0 is best, 10 worst (9.2 before hardening).
  it.skipIf(!analyze || !hostUnits || version < 250)('systemd-analyze security rates each service at most 1.5', () => {
    const r = root('usr/bin');
    for (const unit of services) {
      const review = run(['security', '--offline=true', `--root=${r}`, '--threshold=15', unit]);
      expect(review.status, review.output.split('\n').slice(-3).join('\n')).toBe(0);
      const level = new RegExp(`Overall exposure level for ${unit}: (\\d+\\.\\d)`).exec(review.output)?.[1];
      expect(Number(level), unit).toBeLessThanOrEqual(1.5);
    }
  });
});
