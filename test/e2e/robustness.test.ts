import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { errorLine, mlscale, type CliResult } from '../support/cli.js';
import { readParquetTable } from '../support/data.js';
import { scratchDir } from '../support/job.js';
import { bin, onnxFixture } from '../support/paths.js';
import { databaseUrl, query, skipPg, tempSchema } from '../support/pg.js';
import { advisoryWaiters, backendsGone, PgGate } from '../support/pg-gate.js';
import { hasStrace, straced } from '../support/strace.js';
import { waitFor } from '../support/wait.js';
import { maxInFlight } from '../../src/run/pipeline.js';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { writeFeatureFiles } from '../../scripts/lib/parquet-data.mjs';

// Shards, locks, kills and signals against a real PostgreSQL and the real binary.
describe.skipIf(skipPg)('runs that survive shards, each other, kill -9 and signals', () => {
  const s = scratchDir('robust');
  const env = { DATABASE_URL: databaseUrl };
  let schema: { name: string; drop(): Promise<void> };
  let gate: PgGate;
  const ROWS = 300_000;

  beforeAll(async () => {
    schema = await tempSchema('e2e_robust');
    await query(`CREATE TABLE ${schema.name}.features AS
      SELECT g AS id, DATE '2024-01-01' AS ds, (g % 97) / 97.0 AS x0, (g % 89) / 89.0 AS x1, (g % 83)::float8 / 83 AS x2, (g % 79)::real / 79 AS x3
        FROM generate_series(1, ${ROWS}) g`);
    gate = await PgGate.create(schema.name);
    writeFeatureFiles(path.join(s.dir, 'pq'), { rows: 40_000, features: 4, files: 3, rowGroupSize: 5000 });
  });
  const children = new Set<ReturnType<typeof spawn>>();
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await gate.end();
    await schema.drop();
    s.remove();
  });

  // A gated job's source query waits at the gate on the row whose id is --param gate=N (0: never).
  const pgJob = (name: string, table: string, gated = false) =>
    s.file(
      `${name}.yaml`,
      `name: ${name}
params: { ds: "2024-01-01"${gated ? ', gate: "0"' : ''} }
model:
  path: ${onnxFixture('test_xgb.onnx')}
  features: [x0, x1, x2, x3]
source:
  postgres: { url: "\${DATABASE_URL}", query: "SELECT id, x0, x1, x2, x3 FROM ${schema.name}.features WHERE ds = :ds::date${gated ? ` AND (id <> :gate::bigint OR ${gate.call})` : ''}" }
key: [id]
batch_size: 4096
parallelism: 2
sink:
  postgres: { url: "\${DATABASE_URL}", table: ${schema.name}.${table} }
`,
    );
  const count = async (table: string) =>
    (
      await query<{ n: string; d: string }>(
        `SELECT count(*) AS n, count(DISTINCT id) AS d FROM ${schema.name}.${table}`,
      )
    )[0]!;

  it('N shards as N processes score every row exactly once, like one process; a shard re-run replaces only its rows', async () => {
    const one = await mlscale(['score', '--job', pgJob('whole', 'whole')], { env });
    expect(errorLine(one)).toBe('');
    const job = pgJob('sharded', 'sharded');
    const shards = await Promise.all(
      [0, 1, 2].map((i) => mlscale(['score', '--job', job, '--shard', `${i}/3`], { env })),
    );
    shards.forEach((r) => expect(errorLine(r)).toBe(''));
    expect(await count('sharded')).toEqual({ n: String(ROWS), d: String(ROWS) });
    const diff = await query(
      `SELECT a.id FROM ${schema.name}.whole a FULL JOIN ${schema.name}.sharded b USING (id) WHERE a.variable IS DISTINCT FROM b.variable LIMIT 5`,
    );
    expect(diff).toEqual([]);
    const ledger = await query<{ shard: string; rows_written: string }>(
      `SELECT shard, rows_written FROM ${schema.name}.mlscale_runs WHERE job = 'sharded' ORDER BY shard`,
    );
    expect(ledger.map((l) => l.shard)).toEqual(['0/3', '1/3', '2/3']);
    expect(ledger.reduce((n, l) => n + Number(l.rows_written), 0)).toBe(ROWS);
    // The Kubernetes Indexed Job form, re-running shard 1: still every row once.
    const again = await mlscale(['score', '--job', job], {
      env: { ...env, JOB_COMPLETION_INDEX: '1', MLSCALE_SHARDS: '3' },
    });
    expect(errorLine(again)).toBe('');
    expect(await count('sharded')).toEqual({ n: String(ROWS), d: String(ROWS) });
  });

  it('Parquet shards split files and row groups; each shard publishes its own files into the partition', async () => {
    const job = s.file(
      'pqshard.yaml',
      `name: pqshard\nparams: { ds: "2024-01-01" }\nmodel:\n  path: ${onnxFixture('test_xgb.onnx')}\n  features: [f0, f1, f2, f3]\nsource:\n  parquet: { path: pq }\nkey: [id]\nsink:\n  parquet: { path: out/pqshard }\n`,
    );
    const rs = await Promise.all(
      [0, 1].map((i) => mlscale(['score', '--job', job, '--shard', `${i}/2`], { cwd: s.dir })),
    );
    rs.forEach((r) => expect(errorLine(r)).toBe(''));
    const ids: number[] = [];
    // Both shards' files at partition depth, under names of their own; _SUCCESS once both are in.
    const dir = path.join(s.dir, 'out', 'pqshard');
    expect(existsSync(path.join(dir, '_SUCCESS'))).toBe(true);
    const names = readdirSync(dir);
    for (const i of [0, 1]) {
      expect(names).toContain(`_mlscale_run-s${i}of2.json`);
      expect(names.filter((x) => x.startsWith(`part-s${i}of2-`)).length).toBeGreaterThan(0);
    }
    const parts = names.filter((x) => x.endsWith('.parquet'));
    expect(parts.every((x) => /^part-s[01]of2-\d{5}\.parquet$/.test(x))).toBe(true);
    for (const f of parts) ids.push(...Array.from(readParquetTable(path.join(dir, f)).getChild('id')!, Number));
    expect(ids.sort((a, b) => a - b)).toEqual(Array.from({ length: 40_000 }, (_, i) => i));
  });

  it('a second run of the same job and partition exits 4 at once, or waits with --wait', async () => {
    const job = pgJob('locked', 'locked');
    const holder = new pg.Client({ connectionString: databaseUrl });
    await holder.connect();
    try {
      const key = `mlscale:${schema.name}:locked:2024-01-01:0/1`;
      await holder.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [key]);
      const r = await mlscale(['score', '--job', job], { env });
      expect(r.code).toBe(4);
      expect(errorLine(r)).toBe(
        `error: sink: another run of job locked holds partition 2024-01-01 (shard 0/1) of ${schema.name}.locked; wait for it to finish, or pass --wait.`,
      );
      const waiting = mlscale(['score', '--job', job, '--wait'], { env });
      let exited = false;
      void waiting.then(() => (exited = true));
      // The barrier: the --wait run's backend is seen queued, not granted, on the lock the test holds.
      const [queued] = await waitFor('the --wait run to queue for the partition lock', async () => {
        const w = await advisoryWaiters(key);
        return w.length > 0 ? w : undefined;
      });
      expect(queued!.application_name).toBe('mlscale');
      expect(exited).toBe(false);
      // The lock comes before anything else: the waiting run has not even created the table.
      expect(await query(`SELECT to_regclass('${schema.name}.locked') AS t`)).toEqual([{ t: null }]);
      await holder.query('SELECT pg_advisory_unlock_all()');
      const w = await waiting;
      expect(errorLine(w)).toBe('');
      expect(w.code).toBe(0);
      // ... and it published once it got the lock.
      expect(await count('locked')).toEqual({ n: String(ROWS), d: String(ROWS) });
      expect(
        await query(`SELECT status FROM ${schema.name}.mlscale_runs WHERE job = 'locked' ORDER BY started_at`),
      ).toEqual([{ status: 'succeeded' }]);
    } finally {
      await holder.end();
    }
    // The Parquet sink: a lock file held by a live process.
    const pqJob = s.file(
      'pqlock.yaml',
      `name: pqlock\nparams: { ds: "2024-01-01" }\nmodel:\n  path: ${onnxFixture('test_xgb.onnx')}\n  features: [f0, f1, f2, f3]\nsource:\n  parquet: { path: pq }\nsink:\n  parquet: { path: out/pqlock }\n`,
    );
    writeFileSync(
      path.join(s.dir, 'out', '.pqlock.lock'),
      JSON.stringify({ pid: process.pid, host: (await import('node:os')).hostname(), run_id: 'other', since: 'now' }),
    );
    const pl = await mlscale(['score', '--job', pqJob], { cwd: s.dir });
    expect(pl.code).toBe(4);
    expect(errorLine(pl)).toMatch(
      /^error: sink: partition .*out\/pqlock is locked by run other \(pid \d+ on .+, since now\); wait for it to finish, or pass --wait\.$/,
    );
    // A lock left by a dead process is taken over. Linux pids stay below 2^22 (PID_MAX_LIMIT), so
    // this one is never alive, whatever else runs on the machine.
    writeFileSync(
      path.join(s.dir, 'out', '.pqlock.lock'),
      JSON.stringify({ pid: 4_194_304, host: (await import('node:os')).hostname(), run_id: 'dead', since: 'then' }),
    );
    expect((await mlscale(['score', '--job', pqJob], { cwd: s.dir })).code).toBe(0);
  });

  function startScore(
    job: string,
    args: string[] = [],
  ): { child: ReturnType<typeof spawn>; done: Promise<CliResult>; log: () => string } {
    const child = spawn(process.execPath, [bin, 'score', '--job', job, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const done = new Promise<CliResult>((resolve) =>
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
    );
    return { child, done, log: () => stderr };
  }

  /** What a run's COPY into its own table of the sink's tree starts with (the table is not committed: only its name shows). */
  const copyInto = (table: string) => `COPY "${schema.name}"."${table}_r`;
  /** The COPY of one run into the sink, as the server reports it (one run at a time). */
  const sinkCopy = async (table: string) =>
    (
      await query<{ pid: number; tuples: string }>(
        `SELECT p.pid, p.tuples_processed AS tuples FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid)
          WHERE p.command = 'COPY FROM' AND starts_with(a.query, $1)`,
        [copyInto(table)],
      )
    )[0];
  /** Rows the source query of the backend `pid` has produced so far. */
  const sourceRows = async (pid: number) =>
    Number(
      (
        await query<{ tuples: string }>(
          `SELECT tuples_processed AS tuples FROM pg_stat_progress_copy WHERE command = 'COPY TO' AND pid = $1`,
          [pid],
        )
      )[0]!.tuples,
    );

  it('kill -9 while reading, scoring and writing never shows a partial partition; the next run marks the dead run failed', async () => {
    const job = pgJob('killed', 'killed', true);
    const good = await mlscale(['score', '--job', job], { env });
    expect(good.code).toBe(0);
    const goodRun = (await query<{ run_id: string }>(`SELECT DISTINCT run_id FROM ${schema.name}.killed`))[0]!.run_id;
    // Each kill lands at a named step: the run's source query waits at the gate on row `at`, and the
    // server shows how far the rows got. The pipeline writes a chunk only once maxInFlight chunks are
    // in flight, so a source held after cap - 1 whole chunks leaves every row read with the scorers.
    // The cap counts the workers started so far, and the pool starts its second worker only when the
    // first is never idle, which may not have happened yet: hold the source within the cap of one
    // worker, the least the run can have (a CI run that held it at maxInFlight(2) saw a COPY begin).
    const batch = 4096;
    const cap = maxInFlight(1);
    const steps = [
      { step: 'reading', at: 1 },
      { step: 'scoring', at: (cap - 1) * batch + batch / 2 },
      { step: 'writing', at: ROWS / 2 },
    ];
    await gate.close();
    try {
      for (const { step, at } of steps) {
        const { child, done } = startScore(job, ['--param', `gate=${at}`]);
        const source = await gate.waitForCaller(`the source of the run killed while ${step}`);
        // The sink began before the first row was read: its ledger row and its COPY are open.
        const sink = await waitFor(`the COPY of the run killed while ${step}`, () => sinkCopy('killed'));
        const ledgerNow = await query<{ status: string }>(
          `SELECT status FROM ${schema.name}.mlscale_runs WHERE job = 'killed' ORDER BY started_at DESC LIMIT 1`,
        );
        expect(ledgerNow).toEqual([{ status: 'running' }]);
        expect(await sourceRows(source)).toBe(at - 1);
        if (step === 'reading' || step === 'scoring') expect(Number(sink.tuples)).toBe(0);
        if (step === 'scoring') expect(at - 1).toBeGreaterThanOrEqual((cap - 1) * batch);
        if (step === 'writing')
          await waitFor(
            'the first chunks to be COPYed into the open transaction',
            async () => Number((await sinkCopy('killed'))?.tuples ?? 0) >= batch,
          );
        child.kill('SIGKILL');
        const r = await done;
        expect(r.signal).toBe('SIGKILL');
        const visible = await query<{ run_id: string; n: string }>(
          `SELECT run_id, count(*) AS n FROM ${schema.name}.killed GROUP BY run_id`,
        );
        expect(visible).toEqual([{ run_id: goodRun, n: String(ROWS) }]);
        // The dead run's source still waits at the gate: let it through (it then finds its client
        // gone), and wait until both of its backends have ended, which frees the partition lock.
        await gate.passWaiting();
        await backendsGone([source, sink.pid], `the backends of the run killed while ${step} to end`);
      }
    } finally {
      await gate.open();
    }
    const statuses = await query<{ status: string }>(
      `SELECT status FROM ${schema.name}.mlscale_runs WHERE job = 'killed' ORDER BY started_at`,
    );
    expect(statuses.map((x) => x.status).slice(0, 1)).toEqual(['succeeded']);
    const after = await mlscale(['score', '--job', job], { env });
    expect(after.code).toBe(0);
    const ledger = await query<{ status: string; error: string | null }>(
      `SELECT status, error FROM ${schema.name}.mlscale_runs WHERE job = 'killed' ORDER BY started_at`,
    );
    expect(ledger.filter((l) => l.status === 'running')).toEqual([]);
    expect(ledger.map((l) => l.status)).toEqual(['succeeded', 'failed', 'failed', 'failed', 'succeeded']);
    expect(
      ledger
        .filter((l) => l.status === 'failed')
        .every((l) => l.error === 'abandoned: the process ended without finishing the run'),
    ).toBe(true);
    expect(ledger.at(-1)!.status).toBe('succeeded');
    expect(await count('killed')).toEqual({ n: String(ROWS), d: String(ROWS) });
  });

  it('SIGTERM rolls the run back, records it failed and exits 143; SIGINT exits 130', async () => {
    const job = pgJob('termed', 'termed', true);
    await gate.close();
    try {
      for (const [sig, code] of [
        ['SIGTERM', 143],
        ['SIGINT', 130],
      ] as const) {
        const { child, done, log } = startScore(job, ['--param', `gate=${ROWS / 2}`]);
        // Signal once the run has begun writing, while its source is held halfway through the rows,
        // so the run cannot finish first; let the source go on once the run has taken the signal.
        await waitFor('the first progress line', () => log().includes('"msg":"progress"'));
        const source = await gate.waitForCaller(`the source of the run stopped by ${sig}`);
        const sink = await waitFor(`the COPY of the run stopped by ${sig}`, () => sinkCopy('termed'));
        child.kill(sig);
        await waitFor(`the run to take ${sig}`, () => log().includes(`"msg":"received ${sig}:`));
        await gate.passWaiting();
        const r = await done;
        expect(r.code).toBe(code);
        expect(errorLine(r)).toBe(`error: run aborted by ${sig}; nothing was published.`);
        await backendsGone([source, sink.pid], `the backends of the run stopped by ${sig} to end`);
      }
    } finally {
      await gate.open();
    }
    expect(await count('termed')).toEqual({ n: '0', d: '0' });
    const ledger = await query<{ status: string; error: string }>(
      `SELECT status, error FROM ${schema.name}.mlscale_runs WHERE job = 'termed' ORDER BY started_at`,
    );
    expect(ledger).toEqual([
      { status: 'failed', error: 'received SIGTERM' },
      { status: 'failed', error: 'received SIGINT' },
    ]);
  });

  async function terminateCopy(table: string): Promise<number> {
    // Wait until the run's COPY into the table is on the server, then drop that connection.
    const r = await waitFor(
      `a COPY into ${table} to terminate`,
      async () => {
        const r = await query<{ pid: number }>(
          `SELECT pg_terminate_backend(pid) AS ok, pid FROM pg_stat_activity WHERE application_name = 'mlscale' AND state = 'active' AND starts_with(query, $1)`,
          [copyInto(table)],
        );
        return r.length > 0 ? r : undefined;
      },
      { intervalMs: 20 },
    );
    return r.length;
  }

  it('a connection dropped mid-run (pg_terminate_backend) is retried from the start; with retries: 0 it fails cleanly with exit 1', async () => {
    const job = pgJob('dropped', 'dropped');
    const { done } = startScore(job);
    expect(await terminateCopy('dropped')).toBe(1);
    const r = await done;
    expect(errorLine(r)).toBe('');
    expect(r.code).toBe(0);
    // Which message the dropped connection shows depends on where the write was: the server's notice or the socket's error.
    const dropped =
      '(terminating connection due to administrator command|write EPIPE|read ECONNRESET|Connection terminated unexpectedly)';
    expect(r.stderr).toMatch(
      new RegExp(
        `transient failure \\(sink: .* \\(${dropped}\\)\\.\\); starting the run over in 1 s \\(retry 1 of 2\\)\\.`,
      ),
    );
    expect(await count('dropped')).toEqual({ n: String(ROWS), d: String(ROWS) });
    const ledger = await query<{ run_id: string; status: string }>(
      `SELECT run_id, status FROM ${schema.name}.mlscale_runs WHERE job = 'dropped' ORDER BY started_at`,
    );
    expect(ledger.map((l) => l.status)).toEqual(['failed', 'succeeded']);
    expect(ledger[1]!.run_id).toBe(`${ledger[0]!.run_id}-retry1`);

    const noRetry = s.file(
      'noretry.yaml',
      readFileSync(job, 'utf8').replace('parallelism: 2', 'parallelism: 2\nretries: 0'),
    );
    const second = startScore(noRetry);
    expect(await terminateCopy('dropped')).toBe(1);
    const f = await second.done;
    expect(f.code).toBe(1);
    expect(errorLine(f)).toMatch(new RegExp(`^error: sink: .*dropped \\(${dropped}\\)\\.$`));
    const visible = await query<{ run_id: string }>(`SELECT DISTINCT run_id FROM ${schema.name}.dropped`);
    expect(visible).toEqual([{ run_id: ledger[1]!.run_id }]);
  });

  it('--resume continues a killed checkpointed run into Postgres and ends with the rows of an uninterrupted run', async () => {
    const job = s.file(
      'resumable.yaml',
      readFileSync(pgJob('resumable', 'resumable'), 'utf8').replace(
        'parallelism: 2',
        'parallelism: 2\ncheckpoint_rows: 40000',
      ),
    );
    const whole = s.file(
      'resumable_whole.yaml',
      readFileSync(job, 'utf8').replace(
        'table: ' + schema.name + '.resumable',
        'table: ' + schema.name + '.resumable_whole',
      ),
    );
    expect((await mlscale(['score', '--job', whole], { env })).code).toBe(0);
    // Kill it once a checkpoint is committed: the first checkpoint inserts the run's row, the second
    // updates it, and that update waits at the gate (a trigger) until the run is dead.
    await query(
      `CREATE TRIGGER test_gate BEFORE UPDATE ON ${schema.name}.mlscale_checkpoints FOR EACH ROW EXECUTE FUNCTION ${gate.trigger}`,
    );
    await gate.close();
    let sink: number;
    try {
      const { child, done } = startScore(job);
      sink = await gate.waitForCaller('the second checkpoint');
      child.kill('SIGKILL');
      expect((await done).signal).toBe('SIGKILL');
    } finally {
      await gate.open();
    }
    // Its backend, let through, finds its client gone and rolls the second checkpoint back.
    await backendsGone([sink], 'the backend of the killed run to end');
    await query(`DROP TRIGGER test_gate ON ${schema.name}.mlscale_checkpoints`);
    const [cp] = await query<{ checkpoint: { chunks: number; runId: string } }>(
      `SELECT checkpoint FROM ${schema.name}.mlscale_checkpoints`,
    );
    expect(cp!.checkpoint.chunks).toBeGreaterThan(0);
    expect(await count('resumable')).toEqual({ n: '0', d: '0' });
    const r = await mlscale(['score', '--job', job, '--resume'], { env });
    expect(errorLine(r)).toBe('');
    expect(r.stderr).toContain(
      `"msg":"resuming run","run_id":"${cp!.checkpoint.runId}","chunks_done":${cp!.checkpoint.chunks}`,
    );
    expect(await count('resumable')).toEqual({ n: String(ROWS), d: String(ROWS) });
    const diff = await query(
      `SELECT id FROM ${schema.name}.resumable_whole a FULL JOIN ${schema.name}.resumable b USING (id) WHERE a.variable IS DISTINCT FROM b.variable LIMIT 5`,
    );
    expect(diff).toEqual([]);
    expect(await query(`SELECT DISTINCT run_id FROM ${schema.name}.resumable`)).toEqual([
      { run_id: cp!.checkpoint.runId },
    ]);
    // The run's own table, filled by both halves, is now the partition's only one, attached.
    expect(
      await query(
        `SELECT relispartition AS attached FROM pg_class WHERE relnamespace = '${schema.name}'::regnamespace AND relname ~ '^resumable_r[0-9a-f]{10}$'`,
      ),
    ).toEqual([{ attached: true }]);
    const ledger = await query<{ status: string; rows_written: string }>(
      `SELECT status, rows_written FROM ${schema.name}.mlscale_runs WHERE run_id = $1`,
      [cp!.checkpoint.runId],
    );
    expect(ledger).toEqual([{ status: 'succeeded', rows_written: String(ROWS) }]);
  });

  it.skipIf(!hasStrace)(
    '--resume continues a killed checkpointed run into Parquet with the same files as an uninterrupted run',
    async () => {
      const body = (out: string) =>
        `name: pqresume\nparams: { ds: "2024-01-01" }\nmodel:\n  path: ${onnxFixture('test_xgb.onnx')}\n  features: [f0, f1, f2, f3]\nsource:\n  parquet: { path: pq }\nkey: [id]\nbatch_size: 1000\ncheckpoint_rows: 5000\nsink:\n  parquet: { path: ${out}, rows_per_file: 5000 }\n`;
      const whole = s.file('pqwhole.yaml', body('out/pqwhole'));
      expect((await mlscale(['score', '--job', whole], { cwd: s.dir })).code).toBe(0);
      const job = s.file('pqresume.yaml', body('out/pqresume'));
      // Killed at its second checkpoint's commit (the rename of its progress file; the first made
      // the first checkpoint durable): a kill sent once the first checkpoint showed could land after
      // the publish on a slow machine, where the run's last 35 chunks took the test's own time.
      expect(straced(s.dir, ['score', '--job', job, '--parallelism', '1'], 'rename', 2).status).toBeNull();
      expect(existsSync(path.join(s.dir, 'out', 'pqresume'))).toBe(false);
      const r = await mlscale(['score', '--job', job, '--resume'], { cwd: s.dir });
      expect(errorLine(r)).toBe('');
      expect(r.stderr).toMatch(/"msg":"resuming run","run_id":"[^"]+","chunks_done":[1-9]\d*/);
      const read = (dir: string) => {
        const d = path.join(s.dir, 'out', dir);
        const files = readdirSync(d)
          .filter((f) => f.endsWith('.parquet'))
          .sort();
        return files
          .map((f) => readParquetTable(path.join(d, f)))
          .flatMap((t) =>
            Array.from({ length: t.numRows }, (_, i) => [
              Number(t.getChild('id')!.get(i)),
              t.getChild('variable')!.get(i),
            ]),
          );
      };
      expect(read('pqresume')).toEqual(read('pqwhole'));
      expect(readdirSync(path.join(s.dir, 'out')).filter((d) => d.startsWith('.pqresume.mlscale-'))).toEqual([]);
    },
  );

  it('--resume without checkpoint_rows is refused', async () => {
    const r = await mlscale(['score', '--job', pgJob('noresume', 'noresume'), '--resume'], { env });
    expect(r.code).toBe(2);
    expect(errorLine(r)).toBe(
      'error: --resume: job noresume has no checkpoint_rows, so its runs keep no progress to resume; set checkpoint_rows in the job.',
    );
  });
});
