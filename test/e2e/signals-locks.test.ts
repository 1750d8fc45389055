import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, mlscale, type CliResult } from '../support/cli.js';
import { scratchDir } from '../support/job.js';
import { bin, onnxFixture } from '../support/paths.js';
import { advisoryWaiters, backendsGone, PgGate } from '../support/pg-gate.js';
import { databaseUrl, query, skipPg, tempSchema } from '../support/pg.js';
import { waitFor } from '../support/wait.js';
import pg from 'pg';

// A signal in any phase stops the run with 143/130 and publishes nothing; lock waits end on a
// signal or a timeout; Parquet lock files are whole, renewed while their run lives, and taken
// over when it is gone. Every phase is reached through a barrier in PostgreSQL, never a sleep.

describe.skipIf(skipPg)('signals in every phase, and locks that end', () => {
  const s = scratchDir('signals');
  const env = { DATABASE_URL: databaseUrl };
  let schema: { name: string; drop(): Promise<void> };
  let gate: PgGate;
  const children = new Set<ReturnType<typeof spawn>>();

  beforeAll(async () => {
    schema = await tempSchema('e2e_signals');
    await query(`CREATE TABLE ${schema.name}.features AS
      SELECT g AS id, (g % 97) / 97.0 AS x0, (g % 89) / 89.0 AS x1, (g % 83)::float8 / 83 AS x2, (g % 79)::real / 79 AS x3
        FROM generate_series(1, 20000) g`);
    gate = await PgGate.create(schema.name);
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await gate.open();
    await gate.end();
    await schema.drop();
    s.remove();
  });

  /** A job reading features (optionally through the gate at row `gateAt`) into `sink`. */
  const job = (name: string, sink: string, where = 'true') =>
    s.file(
      `${name}.yaml`,
      `name: ${name}
params: { ds: "2024-01-01" }
model:
  path: ${onnxFixture('test_xgb.onnx')}
  features: [x0, x1, x2, x3]
source:
  postgres: { url: "\${DATABASE_URL}", query: "SELECT id, x0, x1, x2, x3 FROM ${schema.name}.features WHERE ${where}" }
key: [id]
batch_size: 2048
parallelism: 1
sink:
  ${sink}
`,
    );
  const pgSink = (table: string) => `postgres: { url: "\${DATABASE_URL}", table: ${schema.name}.${table} }`;

  function start(args: string[]): {
    done: Promise<CliResult & { exitedAt: number }>;
    child: ReturnType<typeof spawn>;
    stderr: () => string;
  } {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: s.dir,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const done = new Promise<CliResult & { exitedAt: number }>((resolve) =>
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, exitedAt: Date.now() })),
    );
    return { done, child, stderr: () => stderr };
  }

  const tableRows = async (table: string) =>
    (await query<{ t: string | null }>(`SELECT to_regclass($1)::text AS t`, [`${schema.name}.${table}`]))[0]!.t
      ? Number((await query<{ n: string }>(`SELECT count(*) AS n FROM ${schema.name}.${table}`))[0]!.n)
      : 0;
  const succeeded = async (jobName: string) =>
    (await query<{ t: string | null }>(`SELECT to_regclass($1)::text AS t`, [`${schema.name}.mlscale_runs`]))[0]!.t
      ? (await query(`SELECT 1 FROM ${schema.name}.mlscale_runs WHERE job = $1 AND status = 'succeeded'`, [jobName]))
          .length
      : 0;

  it('SIGTERM while the job is being planned (the source probe held by a lock): exit 143, nothing published', async () => {
    const holder = new pg.Client({ connectionString: databaseUrl });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`LOCK TABLE ${schema.name}.features IN ACCESS EXCLUSIVE MODE`);
      const run = start(['score', '--job', job('planned', pgSink('planned'))]);
      // The probe that reads the query's columns waits for the table: the run is planning.
      await waitFor('the probe to wait for the source table', async () =>
        (
          await query(
            `SELECT 1 FROM pg_stat_activity WHERE application_name = 'mlscale' AND wait_event_type = 'Lock' AND query LIKE '%${schema.name}.features%'`,
          )
        ).length > 0
          ? true
          : undefined,
      );
      run.child.kill('SIGTERM');
      await holder.query('COMMIT');
      const r = await run.done;
      expect(errorLine(r)).toBe('error: run aborted by SIGTERM; nothing was published.');
      expect(r.code).toBe(143);
      expect(await tableRows('planned')).toBe(0);
      expect(await succeeded('planned')).toBe(0);
    } finally {
      await holder.end();
    }
  });

  it('SIGTERM while a Postgres source query runs cancels it and exits 143 at once', async () => {
    await gate.close();
    try {
      const run = start(['score', '--job', job('reading', pgSink('reading'), `(id <> 1 OR ${gate.call})`)]);
      const pid = await gate.waitForCaller('the source query');
      const sent = Date.now();
      run.child.kill('SIGTERM');
      const r = await run.done;
      // The gate holds the query until the test opens it, after this: without the cancel the run
      // would wait for it. The bound leaves room for the rollback, the ledger and the threads' exit
      // on a slow, loaded machine (2 s was once too tight), and is still far below any wait.
      expect(r.exitedAt - sent).toBeLessThan(10_000);
      expect(r.code).toBe(143);
      expect(errorLine(r)).toBe('error: run aborted by SIGTERM; nothing was published.');
      // The query was cancelled on the server, not left running behind the gate.
      await backendsGone([pid], 'the cancelled source query to end');
      expect(await tableRows('reading')).toBe(0);
      expect(await succeeded('reading')).toBe(0);
    } finally {
      await gate.open();
    }
  });

  it('--wait on a Postgres partition lock ends with SIGTERM (143) or after its timeout (exit 4)', async () => {
    const file = job('waited', pgSink('waited'));
    const key = `mlscale:${schema.name}:waited:2024-01-01:0/1`;
    const holder = new pg.Client({ connectionString: databaseUrl });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [key]);
      const timed = await mlscale(['score', '--job', file, '--wait', '1'], { env });
      expect(timed.code).toBe(4);
      expect(errorLine(timed)).toBe(
        `error: sink: another run of job waited holds partition 2024-01-01 (shard 0/1) of ${schema.name}.waited; wait for it to finish, or pass --wait.`,
      );
      const run = start(['score', '--job', file, '--wait']);
      const [waiter] = await waitFor('the run to wait for the partition lock', async () => {
        const w = await advisoryWaiters(key);
        return w.length > 0 ? w : undefined;
      });
      run.child.kill('SIGTERM');
      const r = await run.done;
      expect(r.code).toBe(143);
      await backendsGone([waiter!.pid], 'the waiting backend to end');
      expect(await succeeded('waited')).toBe(0);
    } finally {
      await holder.end();
    }
  });

  describe('Parquet lock files', () => {
    const out = path.join(s.dir, 'pqlocks');
    const lockFile = path.join(out, '.ds=2024-01-01.lock');
    const pqJob = () => job('pqlock', `parquet: { path: "pqlocks/ds={{ ds }}" }`, 'id <= 3000');
    const old = (file: string) => utimesSync(file, new Date(Date.now() - 600_000), new Date(Date.now() - 600_000));
    const lockWith = (text: string, stale: boolean) => {
      mkdirSync(out, { recursive: true });
      writeFileSync(lockFile, text);
      if (stale) old(lockFile);
    };

    it('a lock renewed by a live holder blocks (exit 4); one whose heartbeat stopped is taken over, with a warning', async () => {
      const cases: [string, string, RegExp][] = [
        ['', 'empty', /is locked by an unreadable lock file .*\.lock \(touched .+\)/],
        ['{"garbage', 'garbage', /is locked by an unreadable lock file/],
        [
          JSON.stringify({ pid: process.pid, host: 'pod-7f9c', run_id: 'elsewhere', since: 'then' }),
          'another host',
          /is locked by run elsewhere \(pid \d+ on pod-7f9c, since then\)/,
        ],
        [
          JSON.stringify({ pid: 1, host: hostname(), run_id: 'reused-pid', since: 'then' }),
          'a live unrelated pid',
          /is locked by run reused-pid \(pid 1 on /,
        ],
      ];
      for (const [text, what, message] of cases) {
        lockWith(text, false);
        const held = await mlscale(['score', '--job', pqJob()], { env });
        expect(held.code, what).toBe(4);
        expect(errorLine(held)).toMatch(message);
        lockWith(text, true);
        const taken = await mlscale(['score', '--job', pqJob()], { env });
        expect(errorLine(taken), what).toBe('');
        expect(taken.code).toBe(0);
        expect(taken.stderr).toMatch(/lock: took over partition .* has not renewed it for \d+ s/);
        expect(readdirSync(out).filter((f) => f.startsWith('.'))).toEqual([]);
      }
    });

    it('--wait on a Parquet lock times out with exit 4 and ends on SIGTERM; a running holder renews its lock', async () => {
      lockWith(JSON.stringify({ pid: process.pid, host: 'pod-1', run_id: 'holder', since: 'now' }), false);
      const timed = await mlscale(['score', '--job', pqJob(), '--wait', '1'], { env });
      expect(timed.code).toBe(4);
      expect(errorLine(timed)).toMatch(
        /is locked by run holder \(pid \d+ on pod-1, since now\) after waiting 1 s; wait for it to finish, or pass --wait with a longer timeout\.$/,
      );
      const run = start(['score', '--job', pqJob(), '--wait']);
      await waitFor('the run to report its wait', () => (/waiting \(--wait\)/.test(run.stderr()) ? true : undefined));
      run.child.kill('SIGTERM');
      expect((await run.done).code).toBe(143);

      // A run held at the gate while it reads owns the lock; its heartbeat moves the lock's mtime.
      // (The same job: a partition holds one job's output.)
      lockWith('x', true);
      await gate.close();
      try {
        const gated = start([
          'score',
          '--job',
          job('pqlock', `parquet: { path: "pqlocks/ds={{ ds }}" }`, `(id <> 1 OR ${gate.call})`),
        ]);
        await gate.waitForCaller('the gated run');
        const first = statSync(lockFile).mtimeMs;
        await waitFor(
          'the heartbeat to renew the lock',
          () => (statSync(lockFile).mtimeMs > first ? true : undefined),
          {
            timeoutMs: 20_000,
            intervalMs: 200,
          },
        );
        gated.child.kill('SIGTERM');
        expect((await gated.done).code).toBe(143);
      } finally {
        await gate.open();
      }
    }, 60_000);
  });
});
