import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, mlscale } from '../support/cli.js';
import { scratchDir } from '../support/job.js';
import { bin, onnxFixture, repoRoot } from '../support/paths.js';
import { databaseUrl, query, skipPg, tempSchema } from '../support/pg.js';
import { PgGate } from '../support/pg-gate.js';
import { waitFor } from '../support/wait.js';
import { todayIn } from '../../src/config/template.js';
import { RUN_STATUSES } from '../../src/scheduler/metrics.js';
import { readFileSync } from 'node:fs';

// The real scheduler process, per-second cron expressions, a real PostgreSQL.
const version = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;

describe.skipIf(skipPg)('mlscale schedule', () => {
  const s = scratchDir('sched');
  let schema: { name: string; drop(): Promise<void> };
  let gate: PgGate;
  const env = { ...process.env, DATABASE_URL: databaseUrl };

  beforeAll(async () => {
    schema = await tempSchema('e2e_sched');
    await query(
      `CREATE TABLE ${schema.name}.small AS SELECT g AS id, (g % 7) / 7.0 AS x0, (g % 5) / 5.0 AS x1, (g % 3) / 3.0 AS x2, (g % 2)::float8 AS x3 FROM generate_series(1, 2000) g`,
    );
    await query(
      `CREATE TABLE ${schema.name}.large AS SELECT g AS id, (g % 7) / 7.0 AS x0, (g % 5) / 5.0 AS x1, (g % 3) / 3.0 AS x2, (g % 2)::float8 AS x3 FROM generate_series(1, 400000) g`,
    );
    gate = await PgGate.create(schema.name);
  });
  const children = new Set<ChildProcess>();
  afterAll(async () => {
    // A failed assertion must not leave a daemon behind.
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await gate.end();
    await schema.drop();
    s.remove();
  });

  const jobText = (name: string, schedule: string, source: string, extra = '') => `name: ${name}
schedule: "${schedule}"
model:
  path: ${onnxFixture('test_xgb.onnx')}
  features: [x0, x1, x2, x3]
source:
  postgres: { url: "\${DATABASE_URL}", query: "SELECT * FROM ${schema.name}.${source}" }
key: [id]
sink:
  postgres: { url: "\${DATABASE_URL}", table: ${schema.name}.${name} }
${extra}`;

  function start(
    dir: string,
    args: string[] = [],
    extraEnv: NodeJS.ProcessEnv = {},
  ): { child: ChildProcess; log: () => string; exited: Promise<number | null> } {
    const child = spawn(process.execPath, [bin, 'schedule', dir, '--state', path.join(dir, 'state.json'), ...args], {
      env: { ...env, ...extraEnv },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.add(child);
    let log = '';
    child.stderr!.on('data', (d) => (log += d));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    return { child, log: () => log, exited };
  }
  const until = async (check: () => Promise<boolean> | boolean, ms = 15_000) => {
    for (const t0 = Date.now(); Date.now() - t0 < ms;) {
      if (await check()) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  };
  /** The tick each run of `job` came from, by run id, read from the daemon's log: a job's runs never overlap, so each 'run started' follows its own 'tick'. */
  const ticksOf = (log: string, job: string) => {
    const ticks = new Map<string, Date>();
    let tick: string | undefined;
    for (const line of log.split('\n').slice(0, -1)) {
      const e = JSON.parse(line) as { msg: string; job?: string; tick?: string; run_id?: string };
      if (e.job !== job) continue;
      if (e.msg === 'tick') tick = e.tick;
      if (e.msg === 'run started' && tick && e.run_id) ticks.set(e.run_id, new Date(tick));
    }
    return ticks;
  };
  const ledger = (job: string) =>
    query<{ run_id: string; status: string; partition: string; error: string | null }>(
      `SELECT run_id, status, partition, error FROM ${schema.name}.mlscale_runs WHERE job = $1 ORDER BY started_at`,
      [job],
    ).catch(() => []);

  it('runs a job on every tick with distinct run ids, serves /healthz and /metrics, and stops on SIGTERM', async () => {
    const dir = path.join(s.dir, 'every2');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'ticks.yaml'), jobText('ticks', '*/2 * * * * *', 'small'));
    const d = start(dir, ['--port', '0']);
    expect(await until(() => /"port":\d+/.test(d.log()))).toBe(true);
    const port = Number(/"port":(\d+)/.exec(d.log())![1]);
    expect(await until(async () => (await ledger('ticks')).filter((r) => r.status === 'succeeded').length >= 2)).toBe(
      true,
    );
    const runs = (await ledger('ticks')).filter((r) => r.status === 'succeeded');
    expect(new Set(runs.map((r) => r.run_id)).size).toBe(runs.length);
    // Each run's first chunk is timed from its own start, not from the scheduler's: the second run
    // starts two seconds or more after the process did, so timed from there its first chunk would
    // come later than its own whole run lasted (a fixed bound instead failed on a slow machine,
    // where planning alone may take a second or more). Its CPU from there on is recorded too.
    const [timed] = await query<{ start: number; cpu: number }>(
      `SELECT (stats->'timings'->>'start_ms')::int AS start, (stats->'timings'->>'cpu_ms')::int AS cpu
         FROM ${schema.name}.mlscale_runs WHERE run_id = $1`,
      [runs[1]!.run_id],
    );
    const succeeded = d
      .log()
      .split('\n')
      .find((l) => l.includes('"msg":"run succeeded"') && l.includes(`"run_id":"${runs[1]!.run_id}"`))!;
    expect(timed!.start).toBeLessThanOrEqual((JSON.parse(succeeded) as { duration_ms: number }).duration_ms + 1);
    expect(timed!.cpu).toBeGreaterThan(0);
    // ds is the date of the tick, not of the moment the test looks (a run may start just before midnight).
    const tick = ticksOf(d.log(), 'ticks').get(runs[0]!.run_id);
    expect(tick).toBeInstanceOf(Date);
    expect(runs[0]!.partition).toBe(todayIn('UTC', tick));
    const health = await (await fetch(`http://127.0.0.1:${port}/healthz`)).json();
    expect(health).toMatchObject({ status: 'ok', jobs: ['ticks'] });
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(
      Number(/mlscale_runs_total\{job="ticks",status="succeeded"\} (\d+)/.exec(metrics)![1]),
    ).toBeGreaterThanOrEqual(2);
    expect(Number(/mlscale_rows_scored_total\{job="ticks"\} (\d+)/.exec(metrics)![1])).toBeGreaterThanOrEqual(4000);
    expect(metrics).toMatch(/mlscale_last_success_timestamp_seconds\{job="ticks"\} \d+/);
    expect(metrics).toMatch(/mlscale_next_run_timestamp_seconds\{job="ticks"\} \d+/);
    expect(metrics).toContain('mlscale_run_duration_seconds_bucket{le="1",job="ticks"}');
    // No run failed: the series is there all the same, at zero, for an alert to watch.
    expect(metrics).toMatch(/^mlscale_runs_total\{job="ticks",status="failed"\} 0$/m);
    // Read only, and on the loopback interface alone unless --host says otherwise.
    for (const method of ['POST', 'DELETE', 'PUT']) {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`, { method });
      expect(r.status, method).toBe(405);
      expect(r.headers.get('allow')).toBe('GET, HEAD');
    }
    expect((await fetch(`http://127.0.0.1:${port}/healthz`, { method: 'HEAD' })).status).toBe(200);
    expect(d.log()).toMatch(
      new RegExp(`"msg":"serving /healthz and /metrics","host":"127\\.0\\.0\\.1","port":${port}`),
    );
    const listening = spawnSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' });
    expect(listening.status).toBe(0);
    expect(listening.stdout.trim().split(/\s+/)[3]).toBe(`127.0.0.1:${port}`);
    d.child.kill('SIGTERM');
    expect(await d.exited).toBe(0);
    for (const line of d.log().trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    expect(d.log()).toMatch(/"msg":"run succeeded","job":"ticks","run_id":"[^"]+"/);
  });

  it('runs jobs that tick in the same second side by side, each run recorded (the state file written one at a time)', async () => {
    const dir = path.join(s.dir, 'together');
    mkdirSync(dir, { recursive: true });
    const names = ['tog_a', 'tog_b', 'tog_c'];
    for (const n of names) writeFileSync(path.join(dir, `${n}.yaml`), jobText(n, '*/2 * * * * *', 'small'));
    const d = start(dir);
    const done = async () => {
      for (const n of names) if ((await ledger(n)).filter((r) => r.status === 'succeeded').length < 2) return false;
      return true;
    };
    expect(await until(done, 30_000)).toBe(true);
    d.child.kill('SIGTERM');
    expect(await d.exited).toBe(0);
    // Before, two jobs renaming the same temporary state file failed a run with ENOENT.
    expect(d.log()).not.toMatch(/ENOENT|run failed/);
    for (const n of names) expect((await ledger(n)).filter((r) => r.status === 'failed')).toEqual([]);
    const state = JSON.parse(readFileSync(path.join(dir, 'state.json'), 'utf8')) as Record<string, string>;
    expect(Object.keys(state).sort()).toEqual(names);
  });

  it('skips a tick that finds the job still running, and aborts a run still going when the grace period ends', async () => {
    const dir = path.join(s.dir, 'overlap');
    mkdirSync(dir, { recursive: true });
    // Every run's source waits at the gate halfway through its rows while the test holds it.
    writeFileSync(
      path.join(dir, 'slow.yaml'),
      jobText('slow', '* * * * * *', `large WHERE (id <> 200000 OR ${gate.call})`, 'parallelism: 1\n'),
    );
    await gate.close();
    let d: ReturnType<typeof start>;
    try {
      d = start(dir, ['--grace', '0']);
      // The first run is held at the gate, so the ticks that come meanwhile find it running.
      await gate.waitForCaller('the first run');
      expect(await until(() => d.log().includes('tick skipped: the previous run of this job is still running'))).toBe(
        true,
      );
      // Let it through (the gate closes again behind it): it publishes.
      await gate.passWaiting();
      await waitFor('the first run to succeed', () => d.log().includes('"msg":"run succeeded","job":"slow"'));
      // The next tick's run is held at the gate in turn: stop the daemon then, so the grace period ends mid-run.
      await gate.waitForCaller('the next run');
      d.child.kill('SIGTERM');
      await waitFor('the grace period to end', () => d.log().includes('grace period over: aborting the run'));
    } finally {
      await gate.open();
    }
    expect(await d.exited).toBe(0);
    const runs = await ledger('slow');
    // The first run succeeded, the second was stopped (a failure here shows what it recorded).
    expect(runs.map((r) => [r.status, r.error])).toEqual([
      ['succeeded', null],
      ['failed', 'the scheduler is stopping'],
    ]);
    expect(runs.some((r) => r.status === 'failed' && r.error === 'the scheduler is stopping')).toBe(true);
    // Whatever was published came from exactly one run, whole: the first.
    const visible = await query<{ run_id: string; n: string }>(
      `SELECT run_id, count(*) AS n FROM ${schema.name}.slow GROUP BY run_id`,
    ).catch(() => []);
    expect(visible.length).toBeLessThanOrEqual(1);
    expect(visible[0]!.n).toBe('400000');
    expect(visible[0]!.run_id).toBe(/"msg":"run succeeded","job":"slow","run_id":"([^"]+)"/.exec(d.log())![1]);
  });

  it('evaluate.schedule evaluates the partition lag_days back on its own cron; a broken gate is logged and counted', async () => {
    const dir = path.join(s.dir, 'evaluate');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'evalsched.yaml');
    writeFileSync(
      file,
      jobText('evalsched', '', 'small')
        .replace('schedule: ""\n', '')
        .concat(
          `labels:
  postgres: { url: "\${DATABASE_URL}", query: "SELECT id, (id % 3 = 0) AS churned FROM ${schema.name}.small" }
  column: churned
evaluate: { schedule: "*/2 * * * * *", lag_days: 1, task: binary }
monitor: { min_roc_auc: 0.999 }
`,
        ),
    );
    const yesterday = todayIn('UTC', new Date(Date.now() - 86_400_000));
    const scored = await mlscale(['score', '--job', file, '--param', `ds=${yesterday}`], { env });
    expect(errorLine(scored)).toBe('');
    const d = start(dir, ['--port', '0']);
    expect(await until(() => /"port":\d+/.test(d.log()))).toBe(true);
    const port = Number(/"port":(\d+)/.exec(d.log())![1]);
    expect(await until(() => d.log().includes('evaluation broke a quality gate'))).toBe(true);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    d.child.kill('SIGTERM');
    await d.exited;
    const line = d
      .log()
      .split('\n')
      .find((l) => l.includes('evaluation broke a quality gate'))!;
    const e = JSON.parse(line) as { job: string; ds: string; error: string; level: string };
    // The tick's date less lag_days (a tick just past midnight would name today less one: checked loosely).
    expect([e.job, e.level]).toEqual(['evalsched:evaluate', 'error']);
    expect([yesterday, todayIn('UTC')]).toContain(
      new Date(Date.parse(`${e.ds}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10),
    );
    expect(e.error).toMatch(
      /^quality gate: partition \d{4}-\d{2}-\d{2}: variable roc_auc [\d.]+ is under monitor\.min_roc_auc 0\.999/,
    );
    expect(
      Number(/mlscale_runs_total\{job="evalsched:evaluate",status="quality_gate"\} (\d+)/.exec(metrics)![1]),
    ).toBeGreaterThanOrEqual(1);
    const stored = await query<{ partition: string; roc: number }>(
      `SELECT partition, (metrics->'variable'->>'roc_auc')::float8 AS roc FROM ${schema.name}.mlscale_evaluations WHERE job = 'evalsched'`,
    );
    expect(stored.map((r) => r.partition)).toEqual([e.ds]);
    expect(stored[0]!.roc).toBeGreaterThan(0);
    // Only evaluations were scheduled: the job's one run is the one scored by hand.
    expect((await ledger('evalsched')).length).toBe(1);
  });

  it('catchup: N runs the last N missed intervals after a restart, oldest first, each with its own ds', async () => {
    const dir = path.join(s.dir, 'catchup');
    mkdirSync(dir, { recursive: true });
    // The daemon's present is pinned (MLSCALE_SCHEDULER_NOW) to a fixed day, and the job runs daily
    // only in that day's month, six months away from the real one: catch-up finds the same
    // intervals whatever day the suite runs on, and no live tick can fire while it runs.
    const month = ((new Date().getUTCMonth() + 6) % 12) + 1;
    const now = new Date(Date.UTC(2024, month - 1, 15, 12));
    writeFileSync(path.join(dir, 'daily.yaml'), jobText('daily', `0 0 * ${month} *`, 'small', 'catchup: 2\n'));
    writeFileSync(
      path.join(dir, 'state.json'),
      JSON.stringify({ daily: new Date(now.getTime() - 4 * 86_400_000).toISOString() }),
    );
    const bad = await mlscale(['schedule', dir, '--state', path.join(dir, 'state.json')], {
      env: { ...env, MLSCALE_SCHEDULER_NOW: 'yesterday' },
    });
    expect(bad.code).toBe(2);
    expect(errorLine(bad)).toBe(
      'error: MLSCALE_SCHEDULER_NOW: "yesterday" is not a time; write ISO 8601 such as 2024-06-15T12:00:00Z, or unset it.',
    );
    const d = start(dir, [], { MLSCALE_SCHEDULER_NOW: now.toISOString() });
    expect(await until(async () => (await ledger('daily')).filter((r) => r.status === 'succeeded').length >= 2)).toBe(
      true,
    );
    d.child.kill('SIGTERM');
    await d.exited;
    const day = (back: number) => todayIn('UTC', new Date(now.getTime() - back * 86_400_000));
    expect((await ledger('daily')).map((r) => r.partition)).toEqual([day(1), day(0)]);
  });

  it('SIGHUP reloads the job files; a bad set is logged and the loaded jobs kept; /metrics has every series from the start', async () => {
    const dir = path.join(s.dir, 'hup');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'one.yaml'), jobText('one', '0 6 * * *', 'small'));
    const d = start(dir, ['--port', '0']);
    expect(await until(() => d.log().includes('"msg":"scheduler started"'))).toBe(true);
    const port = Number(/"port":(\d+)/.exec(d.log())![1]);
    const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    // Before any run: every status of the job at zero, the process's own metrics, and what is running.
    const before = await scrape();
    for (const status of RUN_STATUSES) expect(before).toContain(`mlscale_runs_total{job="one",status="${status}"} 0\n`);
    expect(before).toContain('mlscale_rows_scored_total{job="one"} 0\n');
    expect(before).toContain('mlscale_running_runs{job="one"} 0\n');
    expect(before).toContain('mlscale_run_duration_seconds_count{job="one"} 0\n');
    expect(before).not.toContain('mlscale_last_success_timestamp_seconds{');
    expect(before).toContain(`mlscale_build_info{version="${version}",node="${process.version}"} 1\n`);
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'process_open_fds',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_version_info',
    ])
      expect(before, name).toMatch(new RegExp(`^${name}(\\{[^}]*\\})? [0-9.e+-]+$`, 'm'));
    writeFileSync(path.join(dir, 'two.yaml'), jobText('two', '0 7 * * *', 'small'));
    d.child.kill('SIGHUP');
    expect(await until(() => d.log().includes('"msg":"reloaded job files","jobs":["one","two"]'))).toBe(true);
    expect(await scrape()).toContain('mlscale_runs_total{job="two",status="failed"} 0\n');
    writeFileSync(path.join(dir, 'three.yaml'), jobText('three', 'not cron', 'small'));
    d.child.kill('SIGHUP');
    expect(await until(() => d.log().includes('"msg":"reload failed; keeping the jobs already loaded"'))).toBe(true);
    d.child.kill('SIGTERM');
    expect(await d.exited).toBe(0);
  });

  it('checks every job file first and names every bad one (exit 2)', async () => {
    const dir = path.join(s.dir, 'bad');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'a.yaml'), jobText('a', 'every day', 'small'));
    writeFileSync(path.join(dir, 'b.yaml'), jobText('b', '0 6 * * *', 'small').replace('key: [id]', 'keys: [id]'));
    writeFileSync(path.join(dir, 'c.yaml'), jobText('c', '0 6 * * *', 'small'));
    const r = await mlscale(['schedule', dir], { env });
    expect(r.code).toBe(2);
    expect(errorLine(r)).toBe('error: schedule: 2 job file(s) are invalid; nothing was scheduled:');
    // The cron check is the job file's own, so `validate` makes it too.
    expect(r.stderr).toContain(
      '  a.yaml:2:1: schedule: "every day" is not valid: write a cron expression of five fields (minute hour day month weekday), or six with seconds first, such as "0 6 * * *", or @daily.',
    );
    expect(r.stderr).toContain('  b.yaml:8:1: keys: unknown key "keys" (did you mean "key"?).');
  });
});
