import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseJob } from '../../src/config/load-job.js';
import { repoRoot } from '../support/paths.js';
import { argAfter, dagFacts, expectValidCommand, readDeploy, renderDs, which, words } from './support.js';

const jobFile = path.join(repoRoot, 'jobs', 'churn_daily.yaml');
const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
  version: string;
  engines: { node: string };
  bin: { mlscale: string };
};

/** churn_daily as a file at `file` (its models resolve relative to it). */
function job(file = jobFile) {
  return parseJob(
    readFileSync(jobFile, 'utf8'),
    file,
    { params: { ds: '2024-01-31' } },
    { DATABASE_URL: 'postgres://u@h/db' },
  );
}

function crontabEntry() {
  const lines = readDeploy('crontab').split('\n');
  const env = Object.fromEntries(
    lines.filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.split('=', 2) as [string, string]),
  );
  const [m, h, dom, mon, dow, ...rest] = words(lines.find((l) => /^\d/.test(l))!);
  const cmd = rest.join(' ');
  const args = words(cmd.slice(cmd.indexOf(' mlscale ') + ' mlscale '.length).split('>>')[0]!);
  return { env, when: [m, h, dom, mon, dow].join(' '), cmd, args };
}

const unitExec = (unit: string) => words(/^ExecStart=mlscale (.+)$/m.exec(readDeploy(`systemd/${unit}`))![1]!);
const cronJob = () => parse(readDeploy('kubernetes/cronjob.yaml'));

describe('deploy examples', () => {
  it('crontab: mlscale found on PATH, logs and summary kept apart, onnxruntime telemetry off', () => {
    const { env, cmd, args } = crontabEntry();
    expect(args.slice(0, 3)).toEqual(['score', '--job', 'jobs/churn_daily.yaml']);
    expectValidCommand(args);
    expect(cmd).toMatch(/>>\S+\.out 2>>\S+\.log$/);
    expect(env.PATH!.split(':')).toEqual(expect.arrayContaining(['/usr/local/bin', '/usr/bin']));
    expect(env.ORT_DISABLE_TELEMETRY).toBe('1');
  });

  it('one ds everywhere: each scheduler runs at the job’s schedule and zone, and scores that day', () => {
    const { schedule, timezone } = job();
    expect(schedule, 'the check below reads a daily "m h * * *" schedule').toMatch(/^\d+ \d+ \* \* \*$/);
    const [minute, hour] = schedule!.split(' ').map(Number) as [number, number];
    // crontab, systemd and the CronJob pass no ds: mlscale's default is today in the job's timezone.
    const cron = crontabEntry();
    expect([cron.when, cron.env.CRON_TZ]).toEqual([schedule, timezone]);
    expect(argAfter(cron.args, '--param')).toBeUndefined();
    const pad = (n: number) => String(n).padStart(2, '0');
    const onCalendar = /^OnCalendar=(.+)$/m.exec(readDeploy('systemd/mlscale-score@.timer'))![1];
    expect(onCalendar).toBe(`*-*-* ${pad(hour)}:${pad(minute)}:00 ${timezone}`);
    expect(argAfter(unitExec('mlscale-score@.service'), '--param')).toBeUndefined();
    const cj = cronJob();
    expect([cj.spec.schedule, cj.spec.timeZone]).toEqual([schedule, timezone]);
    expect(argAfter(cj.spec.jobTemplate.spec.template.spec.containers[0].args, '--param')).toBeUndefined();
    // Every attempt of a run starts before midnight, so a retry scores the same day.
    const latest =
      hour * 3600 + minute * 60 + cj.spec.startingDeadlineSeconds + cj.spec.jobTemplate.spec.activeDeadlineSeconds;
    expect(latest).toBeLessThan(24 * 3600);
    // Airflow: the day of the scheduled time on 2.x and 3 (not {{ ds }}, which differs between them).
    if (!which('python3')) return void console.warn('python3 not found: the Airflow half of this check is skipped');
    const facts = dagFacts();
    for (const dag of facts.calls.filter((c) => c.func === 'DAG')) expect(dag.keywords.schedule).toBe(schedule);
    const bash = facts.calls.find((c) => c.func === 'MlscaleBashOperator')!.keywords.bash_command as string;
    const shards = facts.calls.find((c) => c.func.endsWith('.expand'))!.keywords.arguments as string[][];
    for (const args of [words(renderDs(bash)), ...shards.map((a) => a.map(renderDs))])
      expect(argAfter(args, '--param')).toBe('ds=2024-01-31');
  });

  it('Dockerfile: current even (LTS) Node line, built without install scripts, telemetry off, numeric user', () => {
    const df = readDeploy('Dockerfile');
    const majors = [...df.matchAll(/^FROM node:(\d+)-bookworm-slim/gm)].map((m) => Number(m[1]));
    expect(majors).toHaveLength(2);
    expect(new Set(majors).size).toBe(1);
    expect(majors[0]! % 2, 'even majors are the LTS lines').toBe(0);
    expect(majors[0]).toBeGreaterThanOrEqual(22);
    expect(pkg.engines.node).toBe('>=20');
    // --ignore-scripts skips prepare too, so the build must follow.
    expect(df).toMatch(/^RUN npm ci --ignore-scripts\n(.*\n)*RUN npm run build && npm prune --omit=dev$/m);
    expect(df).toMatch(/^ENV ORT_DISABLE_TELEMETRY=1$/m);
    expect(df).toMatch(/^USER [1-9]\d*:[1-9]\d*$/m);
    expect(df).toMatch(/^ENTRYPOINT \["mlscale"\]$/m);
    // The command is the package's bin, the launcher that sets the allocator (bin/mlscale).
    expect(pkg.bin.mlscale).toBe('bin/mlscale');
    expect(df).toMatch(/^RUN ln -s \/opt\/mlscale\/bin\/mlscale \/usr\/local\/bin\/mlscale$/m);
  });

  it('the job image holds each job file and, where its model.path points, the model; the manifests run it', () => {
    const df = readDeploy('Dockerfile.job');
    const copies = [...df.matchAll(/^COPY (\S+) (\S+)$/gm)].map(([, src, dest]) => ({
      src: src!,
      inImage: dest!.endsWith('/') ? path.posix.join(dest!, path.posix.basename(src!)) : dest!,
    }));
    const jobs = copies.filter((c) => c.src.startsWith('jobs/'));
    expect(jobs.map((c) => c.inImage)).toEqual(['/opt/mlscale/jobs/churn_daily.yaml']);
    for (const j of jobs) {
      const inImage = job(j.inImage).models.map((m) => m.path);
      const inRepo = job(path.join(repoRoot, j.src)).models.map((m) => path.relative(repoRoot, m.path));
      expect(copies.filter((c) => inRepo.includes(c.src)).map((c) => c.inImage)).toEqual(inImage);
    }
    // Its base is the image deploy/Dockerfile makes, tagged with this version; so is the job image.
    expect(df).toContain(`ARG MLSCALE_IMAGE=ghcr.io/example/mlscale:${pkg.version}\nFROM \${MLSCALE_IMAGE}`);
    const image = `ghcr.io/example/mlscale-churn:${pkg.version}`;
    expect(df).toContain(`-t ${image} .`);
    const indexed = parse(readDeploy('kubernetes/indexed-job.yaml'));
    for (const c of [
      cronJob().spec.jobTemplate.spec.template.spec.containers[0],
      indexed.spec.template.spec.containers[0],
    ]) {
      expect(c.image).toBe(image);
      expect(jobs.map((j) => j.inImage)).toContain(argAfter(c.args, '--job'));
    }
    if (which('python3')) {
      const pod = dagFacts().calls.find((c) => c.func === 'MlscalePodOperator.partial')!;
      expect(pod.keywords.image).toBe(image);
    }
  });

  it('each Dockerfile is sent only what it copies (<Dockerfile>.dockerignore, an allow list)', () => {
    for (const name of ['Dockerfile', 'Dockerfile.job']) {
      const allowed = readDeploy(`${name}.dockerignore`)
        .split('\n')
        .filter((l) => l.startsWith('!'))
        .map((l) => l.slice(1).replace(/\/$/, ''));
      expect(readDeploy(`${name}.dockerignore`)).toMatch(/^\*$/m);
      const sources = [...readDeploy(name).matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => words(m[1]!));
      for (const src of sources) expect(allowed, `${name}: COPY ${src}`).toContain(src.replace(/\/$/, ''));
    }
  });

  it('the job the examples run is a valid job file', () => {
    expect(job()).toMatchObject({
      name: 'churn_daily',
      schedule: '0 6 * * *',
      timezone: 'UTC',
      catchup: 3,
      checkpointRows: 1_000_000,
      key: ['customer_id'],
    });
    expect(job().source).toMatchObject({ kind: 'postgres' });
  });
});
