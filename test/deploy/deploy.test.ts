import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildProgram } from '../../src/cli/program.js';
import { parseJob } from '../../src/config/load-job.js';
import { repoRoot } from '../support/paths.js';

const read = (p: string) => readFileSync(path.join(repoRoot, 'deploy', p), 'utf8');

/** Every --flag in an mlscale command line must be one the named subcommand accepts. */
function expectValidCommand(args: string[]) {
  const program = buildProgram();
  const sub = program.commands.find((c) => c.name() === args[0]);
  expect(sub, `unknown command ${args[0]}`).toBeDefined();
  const known = new Set(sub!.options.flatMap((o) => [o.long, o.short].filter(Boolean) as string[]));
  for (const a of args.slice(1))
    if (a.startsWith('--')) expect(known.has(a.split('=')[0]!), `${args[0]} has no option ${a}`).toBe(true);
}

function words(line: string): string[] {
  return line.trim().split(/\s+/);
}

describe('deploy examples', () => {
  it('crontab: daily at 06:00 UTC, ds passed as a parameter, logs and summary kept apart', () => {
    const entry = read('crontab')
      .split('\n')
      .find((l) => /^\d/.test(l))!;
    const [m, h, dom, mon, dow, ...rest] = words(entry);
    expect([m, h, dom, mon, dow].join(' ')).toBe('0 6 * * *');
    const cmd = rest.join(' ');
    const args = words(cmd.slice(cmd.indexOf('/usr/bin/mlscale ') + '/usr/bin/mlscale '.length).split('>>')[0]!);
    expect(args.slice(0, 3)).toEqual(['score', '--job', 'jobs/churn_daily.yaml']);
    expect(args).toContain('--param');
    expect(args[args.indexOf('--param') + 1]).toMatch(/^ds=/);
    expectValidCommand(args);
    expect(cmd).toMatch(/>>\S+\.out 2>>\S+\.log$/);
    expect(read('crontab')).toContain('CRON_TZ=UTC');
  });

  it('systemd: a one-shot service per job with a daily timer, and the scheduler daemon', () => {
    const exec = (unit: string) => words(/^ExecStart=\/usr\/bin\/mlscale (.+)$/m.exec(read(unit))![1]!);
    const one = exec('systemd/mlscale-score@.service');
    expect(one.slice(0, 3)).toEqual(['score', '--job', 'jobs/%i.yaml']);
    expectValidCommand(one);
    expect(read('systemd/mlscale-score@.service')).toMatch(/^Type=oneshot$/m);
    expect(read('systemd/mlscale-score@.timer')).toMatch(/^OnCalendar=\*-\*-\* 06:00:00 UTC$/m);
    const daemon = exec('systemd/mlscale-schedule.service');
    expect(daemon.slice(0, 2)).toEqual(['schedule', 'jobs']);
    expectValidCommand(daemon);
    expect(read('systemd/mlscale-schedule.service')).toMatch(/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
  });

  it('Airflow: a BashOperator with {{ ds }}, and a KubernetesPodOperator mapped over shards', () => {
    const dag = read('airflow/mlscale_dag.py');
    const bash = /bash_command="mlscale ([^"]+)"/.exec(dag)![1]!;
    const args = words(bash);
    expect(args).toContain('ds={{');
    expect(bash).toContain('--param ds={{ ds }}');
    expectValidCommand(args.filter((a) => !a.includes('{{') && !a.includes('}}')));
    expect(dag).toMatch(/KubernetesPodOperator\.partial\([\s\S]*\)\.expand\(/);
    const mapped = /\["score", "--job", [^\]]+\]/.exec(dag)![0];
    expect(mapped).toContain('"--shard", f"{i}/{SHARDS}"');
    expect(mapped).toContain('"--param", "ds={{ ds }}"');
    expectValidCommand(JSON.parse(mapped.replace('f"{i}/{SHARDS}"', '"0/4"')));
  });

  it('Kubernetes: a CronJob and an Indexed Job whose shard count matches its completions', () => {
    const cron = parse(read('kubernetes/cronjob.yaml'));
    expect(cron.kind).toBe('CronJob');
    expect(cron.spec.schedule).toBe('0 6 * * *');
    expect(cron.spec.concurrencyPolicy).toBe('Forbid');
    const c = cron.spec.jobTemplate.spec.template.spec.containers[0];
    expectValidCommand(c.args);
    expect(cron.spec.jobTemplate.spec.podFailurePolicy.rules[0].onExitCodes.values).toEqual([2, 3]);
    const job = parse(read('kubernetes/indexed-job.yaml'));
    expect(job.spec.completionMode).toBe('Indexed');
    const jc = job.spec.template.spec.containers[0];
    expectValidCommand(jc.args);
    expect(jc.env.find((e: { name: string }) => e.name === 'MLSCALE_SHARDS').value).toBe(String(job.spec.completions));
  });

  it('Dockerfile: slim Node 20 image, npm ci with the project .npmrc, mlscale as the entrypoint', () => {
    const df = read('Dockerfile');
    expect(df.match(/^FROM node:20-[a-z]+-slim/gm)!.length).toBe(2);
    expect(df).toContain('COPY package.json package-lock.json .npmrc ./');
    expect(df).toMatch(/^RUN npm ci$/m);
    expect(df).toMatch(/^ENTRYPOINT \["mlscale"\]$/m);
  });

  it('the job the examples run is a valid job file', () => {
    const file = path.join(repoRoot, 'jobs', 'churn_daily.yaml');
    const job = parseJob(
      readFileSync(file, 'utf8'),
      file,
      { params: { ds: '2024-01-31' } },
      { DATABASE_URL: 'postgres://u@h/db' },
    );
    expect(job).toMatchObject({
      name: 'churn_daily',
      schedule: '0 6 * * *',
      catchup: 3,
      checkpointRows: 1_000_000,
      key: ['customer_id'],
    });
    expect(job.source).toMatchObject({ kind: 'postgres' });
  });
});
