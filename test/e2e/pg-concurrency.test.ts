import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { errorLine, mlscale, startMlscale, type CliResult } from '../support/cli.js';
import { scratchDir } from '../support/job.js';
import { onnxFixture } from '../support/paths.js';
import { databaseUrl, query, skipPg, tempSchema } from '../support/pg.js';
import { backendsGone, PgGate } from '../support/pg-gate.js';
import { waitFor } from '../support/wait.js';

// Runs into one table side by side, re-runs that leave nothing behind, and what analysts read
// while runs come and go: a real PostgreSQL, the real binary, barriers instead of timing.
describe.skipIf(skipPg)('runs into one Postgres table: concurrency, re-run cost and analysts', () => {
  const s = scratchDir('pgconc');
  const env = { DATABASE_URL: databaseUrl };
  let schema: { name: string; drop(): Promise<void> };
  let gate: PgGate;
  const ROWS = 30_000;
  const children = new Set<ChildProcess>();
  const sessions: pg.Client[] = [];

  beforeAll(async () => {
    schema = await tempSchema('e2e_conc');
    await query(`CREATE TABLE ${schema.name}.features AS
      SELECT g AS id, d::date AS ds, (g % 97) / 97.0 AS x0, (g % 89) / 89.0 AS x1, (g % 83)::float8 / 83 AS x2, (g % 79)::real / 79 AS x3
        FROM generate_series(1, ${ROWS}) g, (VALUES ('2024-01-01'), ('2024-01-02'), ('2024-01-03')) v(d)`);
    gate = await PgGate.create(schema.name);
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const c of sessions) await c.end().catch(() => undefined);
    await gate.end();
    await schema.drop();
    s.remove();
  });

  /**
   * A job whose source waits at the gate on each row whose id is a multiple of `gate` (0: never),
   * so that every shard meets it; `sinkExtra` goes into the sink's mapping.
   */
  const job = (name: string, table: string, sinkExtra = '') =>
    s.file(
      `${name}.yaml`,
      `name: ${name}
params: { ds: "2024-01-01", gate: "0" }
model:
  path: ${onnxFixture('test_xgb.onnx')}
  features: [x0, x1, x2, x3]
source:
  postgres: { url: "\${DATABASE_URL}", query: "SELECT id, x0, x1, x2, x3 FROM ${schema.name}.features WHERE ds = :ds::date AND (:gate::bigint = 0 OR id % :gate::bigint <> 0 OR ${gate.call})" }
key: [id]
batch_size: 4096
parallelism: 1
sink:
  postgres: { url: "\${DATABASE_URL}", table: ${schema.name}.${table}${sinkExtra} }
`,
    );

  const start = (file: string, args: string[] = []) =>
    startMlscale(['score', '--job', file, ...args], { env, track: children });

  async function session(name: string): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: databaseUrl, application_name: name });
    c.on('error', () => undefined);
    await c.connect();
    sessions.push(c);
    return c;
  }

  /** Every table of the prediction table's tree with its size, leaves only. */
  const leaves = async (table: string) =>
    query<{ name: string; bytes: string }>(
      `SELECT relid::text AS name, pg_total_relation_size(relid)::text AS bytes
         FROM pg_partition_tree('${schema.name}.${table}') WHERE isleaf ORDER BY 1`,
    );
  const treeBytes = async (table: string) => (await leaves(table)).reduce((n, l) => n + Number(l.bytes), 0);
  const count = async (table: string, where = 'true') =>
    (
      await query<{ n: number; d: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM ${schema.name}.${table} WHERE ${where}`,
      )
    )[0]!;

  it('N shards score side by side (all N wait at one barrier at once); a duplicate run exits 4 at once; other partitions go on', async () => {
    const file = job('sharded', 'sharded');
    await gate.close();
    const runs: { done: Promise<CliResult> }[] = [];
    try {
      for (let i = 0; i < 3; i++) runs.push(start(file, ['--shard', `${i}/3`, '--param', 'gate=1000']));
      // Were the shards serialized anywhere (DDL behind another's COPY, one lock for the table),
      // fewer than three would ever reach the gate while it is closed.
      await waitFor('all three shards to be reading at once', async () => (await gate.waiting()).length === 3);
      const copies = await query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE starts_with(query, 'COPY "${schema.name}"."sharded_r') AND state = 'active'`,
      );
      expect(copies).toEqual([{ n: 3 }]);
      // A duplicate of shard 0 exits 4 while shard 0 is held mid-run: it waits for nothing.
      const dup = await mlscale(['score', '--job', file, '--shard', '0/3', '--param', 'gate=1000'], { env });
      expect(dup.code).toBe(4);
      expect(errorLine(dup)).toBe(
        `error: sink: another run of job sharded holds partition 2024-01-01 (shard 0/3) of ${schema.name}.sharded; wait for it to finish, or pass --wait.`,
      );
      // The same job's other partition is another lock: it runs to the gate beside them.
      runs.push(start(file, ['--param', 'ds=2024-01-02', '--param', 'gate=1000']));
      await waitFor('the other partition to be reading too', async () => (await gate.waiting()).length === 4);
    } finally {
      await gate.open();
    }
    for (const r of runs) {
      const done = await r.done;
      expect(errorLine(done)).toBe('');
      expect(done.code).toBe(0);
    }
    expect(await count('sharded', `partition = '2024-01-01'`)).toEqual({ n: ROWS, d: ROWS });
    expect(await count('sharded', `partition = '2024-01-02'`)).toEqual({ n: ROWS, d: ROWS });
  });

  it('runs of one partition under different shard counts never overlap: the second exits 4 (or waits)', async () => {
    const file = job('counts', 'counts');
    await gate.close();
    let held: Promise<CliResult>;
    try {
      held = start(file, ['--param', 'gate=1000']).done;
      await gate.waitForCaller('the unsharded run to be reading');
      const other = await mlscale(['score', '--job', file, '--shard', '0/2'], { env });
      expect(other.code).toBe(4);
      expect(errorLine(other)).toMatch(
        new RegExp(
          `^error: sink: a run of job counts under no shards \\(backend \\d+\\) holds partition 2024-01-01 of ${schema.name}\\.counts; runs under different shard counts replace each other's rows and may not overlap: wait for it to finish, or pass --wait\\.$`,
        ),
      );
      const waited = await mlscale(['score', '--job', file, '--shard', '1/2', '--wait', '1'], { env });
      expect(waited.code).toBe(4);
    } finally {
      await gate.open();
    }
    expect((await held!).code).toBe(0);
    // Once it is done, the other count runs, and its two shards together replace it.
    for (const shard of ['0/2', '1/2'])
      expect((await mlscale(['score', '--job', file, '--shard', shard], { env })).code).toBe(0);
    expect(await count('counts')).toEqual({ n: ROWS, d: ROWS });
    expect(await query(`SELECT count(DISTINCT run_id)::int AS n FROM ${schema.name}.counts`)).toEqual([{ n: 2 }]);
  });

  it('a re-run costs what a first run costs: the table stays the same size over ten re-runs, with no dead rows', async () => {
    const file = job('rerun', 'rerun');
    expect((await mlscale(['score', '--job', file], { env })).code).toBe(0);
    const first = await treeBytes('rerun');
    for (let i = 0; i < 10; i++) {
      const r = await mlscale(['score', '--job', file, '--run-id', `rerun-${i}`], { env });
      expect(errorLine(r)).toBe('');
    }
    // One run's table in the partition: each re-run attached its own and dropped the one before.
    const now = await leaves('rerun');
    expect(now.length).toBe(1);
    expect(await treeBytes('rerun')).toBeLessThanOrEqual(first * 1.05);
    expect(await query(`SELECT DISTINCT run_id FROM ${schema.name}.rerun`)).toEqual([{ run_id: 'rerun-9' }]);
    const dead = await query<{ n: number }>(
      `SELECT coalesce(sum(n_dead_tup), 0)::int AS n FROM pg_stat_user_tables WHERE schemaname = $1 AND relname LIKE 'rerun%'`,
      [schema.name],
    );
    expect(dead).toEqual([{ n: 0 }]);
    // Nothing outside the tree: no tables of old runs left unattached.
    const loose = await query(
      `SELECT relname FROM pg_class WHERE relnamespace = '${schema.name}'::regnamespace AND relname ~ '^rerun_r' AND NOT relispartition`,
    );
    expect(loose).toEqual([]);
    // A column the user added, with a default, gets it in every run's table too.
    await query(`ALTER TABLE ${schema.name}.rerun ADD COLUMN reviewed boolean NOT NULL DEFAULT false`);
    const withDefault = await mlscale(['score', '--job', file, '--run-id', 'rerun-default'], { env });
    expect(errorLine(withDefault)).toBe('');
    expect(await query(`SELECT DISTINCT reviewed FROM ${schema.name}.rerun`)).toEqual([{ reviewed: false }]);
  });

  it("an analyst's open transaction holds a re-run up for at most its lock timeouts, then a clear error; reads never queue behind the run for longer", async () => {
    const file = job('analyst', 'analyst', ', lock_timeout_s: 0.3');
    expect((await mlscale(['score', '--job', file, '--run-id', 'before'], { env })).code).toBe(0);
    const analyst = await session('analyst-psql');
    await analyst.query('BEGIN');
    await analyst.query(`SELECT count(*) FROM ${schema.name}.analyst`);
    // A first publish of another day only attaches (SHARE UPDATE EXCLUSIVE): the open read is no obstacle.
    const otherDay = await mlscale(['score', '--job', file, '--param', 'ds=2024-01-02'], { env });
    expect(errorLine(otherDay)).toBe('');
    // A re-run of the day the analyst read must drop the old run's table: it asks, 5 times, 0.3 s each.
    const rerun = start(file, ['--run-id', 'blocked']);
    let finished = false;
    void rerun.done.then(() => (finished = true));
    // Meanwhile another reader's queries never wait behind the run's request for long.
    const reader = await session('analyst-reader');
    await reader.query(`SET statement_timeout = '2s'`);
    await waitFor('the run to ask for the partition lock', async () =>
      (
        await query(
          `SELECT 1 FROM pg_stat_activity WHERE application_name = 'mlscale' AND wait_event_type = 'Lock' AND query LIKE 'DROP TABLE%'`,
        )
      ).length > 0
        ? true
        : undefined,
    );
    let reads = 0;
    while (!finished) {
      await reader.query(`SELECT count(*) FROM ${schema.name}.analyst WHERE partition = '2024-01-01'`);
      reads++;
    }
    expect(reads).toBeGreaterThan(0);
    const r = await rerun.done;
    expect(r.code).toBe(1);
    expect(errorLine(r)).toMatch(
      new RegExp(
        `^error: sink: cannot publish partition 2024-01-01 of ${schema.name}\\.analyst: session \\d+ \\(user postgres, analyst-psql, idle in transaction since [^)]+\\)(, session \\d+ \\([^)]+\\))* held a lock it needs, through 5 requests of 0\\.3 s each \\(sink\\.postgres\\.lock_timeout_s\\); end that transaction or wait for it, then run again, or raise lock_timeout_s\\.$`,
      ),
    );
    // Nothing changed for the analyst; the run is recorded failed.
    await analyst.query('COMMIT');
    expect(await query(`SELECT DISTINCT run_id FROM ${schema.name}.analyst WHERE partition = '2024-01-01'`)).toEqual([
      { run_id: 'before' },
    ]);
    expect(await query(`SELECT status FROM ${schema.name}.mlscale_runs WHERE run_id = 'blocked'`)).toEqual([
      { status: 'failed' },
    ]);
    // Its table went with the rolled-back transaction; once the analyst is done, the re-run publishes.
    const again = await mlscale(['score', '--job', file, '--run-id', 'after'], { env });
    expect(errorLine(again)).toBe('');
    expect(await query(`SELECT DISTINCT run_id FROM ${schema.name}.analyst WHERE partition = '2024-01-01'`)).toEqual([
      { run_id: 'after' },
    ]);
  });

  it('two jobs share a table: each keeps its own view of its own rows and its own description; an unchanged re-run writes no DDL', async () => {
    const a = job('job_a', 'shared');
    const b = s.file(
      'job_b.yaml',
      readFileSync(a, 'utf8')
        .replace('name: job_a', 'name: job_b')
        .replace(`path: ${onnxFixture('test_xgb.onnx')}`, `path: ${onnxFixture('test_xgb.onnx')}\n  version: "b-1"`),
    );
    expect((await mlscale(['score', '--job', a, '--param', 'ds=2024-01-02'], { env })).code).toBe(0);
    const described = async () =>
      (
        await query<Record<string, string | null>>(
          `SELECT obj_description('${schema.name}.shared'::regclass) AS t,
                  col_description('${schema.name}.shared'::regclass, 2) AS c,
                  obj_description('${schema.name}.shared_latest'::regclass) AS v,
                  pg_get_viewdef('${schema.name}.shared_latest'::regclass) AS def,
                  (SELECT xmin::text FROM pg_rewrite WHERE ev_class = '${schema.name}.shared_latest'::regclass AND rulename = '_RETURN') AS rule_xmin,
                  (SELECT string_agg(xmin::text, ',') FROM pg_description WHERE objoid IN ('${schema.name}.shared'::regclass, '${schema.name}.shared_latest'::regclass)) AS comment_xmins`,
        )
      )[0]!;
    const before = await described();
    // An unchanged re-run of job A rewrites neither view nor comments (their catalog rows keep their xmin).
    expect((await mlscale(['score', '--job', a, '--param', 'ds=2024-01-02'], { env })).code).toBe(0);
    expect(await described()).toEqual(before);
    // Job B writes the same table and the same day, and a later day A never scored.
    expect((await mlscale(['score', '--job', b, '--param', 'ds=2024-01-02'], { env })).code).toBe(0);
    expect((await mlscale(['score', '--job', b, '--param', 'ds=2024-01-03'], { env })).code).toBe(0);
    // What job A's readers see has not changed: view, definition and descriptions.
    const after = await described();
    expect(after).toEqual(before);
    expect(after.t).toMatch(/^Predictions written by mlscale job job_a with model test_xgb/);
    const aRuns = `SELECT run_id FROM ${schema.name}.mlscale_runs WHERE job = 'job_a'`;
    const bRuns = `SELECT run_id FROM ${schema.name}.mlscale_runs WHERE job = 'job_b'`;
    expect(
      await query(
        `SELECT partition, count(*)::int AS n, bool_and(run_id IN (${aRuns})) AS own FROM ${schema.name}.shared_latest GROUP BY 1`,
      ),
    ).toEqual([{ partition: '2024-01-02', n: ROWS, own: true }]);
    // Job B has its own view: its newest day, its rows only, described with its model.
    expect(
      await query(
        `SELECT partition, count(*)::int AS n, bool_and(run_id IN (${bRuns})) AS own FROM ${schema.name}.shared_latest_job_b GROUP BY 1`,
      ),
    ).toEqual([{ partition: '2024-01-03', n: ROWS, own: true }]);
    const [bView] = await query<{ v: string; c: string }>(
      `SELECT obj_description('${schema.name}.shared_latest_job_b'::regclass) AS v, col_description('${schema.name}.shared_latest_job_b'::regclass, 2) AS c`,
    );
    expect(bView!.v).toBe(
      `Rows of the newest partition job job_b published into ${schema.name}.shared, scored by model test_xgb (version b-1).`,
    );
    expect(bView!.c).toMatch(/of model test_xgb \(version b-1\)\.$/);
    // The table holds both jobs' rows of the shared day, each replaced only by its own job.
    expect(await count('shared', `partition = '2024-01-02'`)).toEqual({ n: 2 * ROWS, d: ROWS });
  });

  it('a plain table written by an earlier version is converted in place: rows, comments, grants and the view kept', async () => {
    const t = `${schema.name}.legacy`;
    const role = `mlscale_reader_${Math.random().toString(16).slice(2, 8)}`;
    // As the previous version created it: a plain table, its index, comments, a ledger and a view.
    expect((await mlscale(['score', '--job', job('legacy_seed', 'legacy_seed')], { env })).code).toBe(0);
    await query(`CREATE TABLE ${t} AS SELECT * FROM ${schema.name}.legacy_seed`);
    await query(`UPDATE ${t} SET partition = CASE WHEN id % 2 = 0 THEN '2023-12-31' ELSE '2024-01-01' END,
                                 run_id = CASE WHEN id % 2 = 0 THEN 'old-run' ELSE 'mid-run' END`);
    await query(`INSERT INTO ${schema.name}.mlscale_runs (run_id, job, partition, shard, model_name, model_version, model_sha256, status, started_at, finished_at, rows_written)
      SELECT DISTINCT run_id, 'legacy', partition, '0/1', 'test_xgb', 'v0', '0', 'succeeded', now() - interval '1 day', now() - interval '1 day', 0 FROM ${t}`);
    await query(`CREATE INDEX legacy_partition_key_idx ON ${t} (partition, id)`);
    await query(
      `COMMENT ON TABLE ${t} IS 'Predictions written by mlscale job legacy with model test_xgb (version v0); each run replaces one partition atomically.'`,
    );
    await query(`COMMENT ON COLUMN ${t}.variable IS 'my own words'`);
    await query(`CREATE ROLE ${role}`);
    try {
      await query(`GRANT SELECT ON ${t} TO ${role}`);
      await query(`CREATE VIEW ${t}_latest AS SELECT * FROM ${t} WHERE partition = '2024-01-01'`);
      await query(`COMMENT ON VIEW ${t}_latest IS 'Rows of the newest partition job legacy published into ${t}.'`);
      await query(`GRANT SELECT ON ${t}_latest TO ${role}`);
      const r = await mlscale(['score', '--job', job('legacy', 'legacy'), '--run-id', 'new-run'], { env });
      expect(errorLine(r)).toBe('');
      expect(r.stderr).toContain(`sink: converted ${t} (${ROWS} rows) into a table partitioned by partition and run`);
      expect(await query(`SELECT relkind FROM pg_class WHERE oid = '${t}'::regclass`)).toEqual([{ relkind: 'p' }]);
      // The older day kept its rows; the run replaced its own day.
      expect(await query(`SELECT partition, run_id, count(*)::int AS n FROM ${t} GROUP BY 1, 2 ORDER BY 1`)).toEqual([
        { partition: '2023-12-31', run_id: 'old-run', n: ROWS / 2 },
        { partition: '2024-01-01', run_id: 'new-run', n: ROWS },
      ]);
      expect(await query(`SELECT has_table_privilege('${role}', '${t}', 'SELECT') AS ok`)).toEqual([{ ok: true }]);
      // The table's description is the job's (its comment names it): brought up to date.
      expect(await query(`SELECT col_description('${t}'::regclass, 2) AS c`)).toEqual([
        { c: expect.stringMatching(/^Prediction: output "variable" of model test_xgb/) },
      ]);
      expect(await count('legacy_latest')).toEqual({ n: ROWS, d: ROWS });
      expect(await query(`SELECT to_regclass('${t}_mlscale_v1') AS t`)).toEqual([{ t: null }]);
      // The grant on the view came back with it.
      expect(await query(`SELECT has_table_privilege('${role}', '${t}_latest', 'SELECT') AS ok`)).toEqual([
        { ok: true },
      ]);
      // What a partitioned table cannot carry over is named, and nothing is converted.
      await query(`CREATE TABLE ${t}_keyed AS SELECT * FROM ${schema.name}.legacy_seed`);
      await query(`ALTER TABLE ${t}_keyed ADD PRIMARY KEY (partition, id)`);
      const keyed = await mlscale(['score', '--job', job('legacy_keyed', 'legacy_keyed')], { env });
      expect(keyed.code).toBe(2);
      expect(errorLine(keyed)).toBe(
        `error: sink: table ${t}_keyed is a plain table and mlscale now keeps one table per partition and run; it cannot carry over its constraint(s) legacy_keyed_pkey (a partitioned table's keys must include the partition and the run): remove them (or move the table aside and let mlscale create a new one), then run again.`,
      );
      expect(await query(`SELECT relkind FROM pg_class WHERE oid = '${t}_keyed'::regclass`)).toEqual([
        { relkind: 'r' },
      ]);
    } finally {
      await query(`DROP OWNED BY ${role}`);
      await query(`DROP ROLE ${role}`);
    }
  });

  it('runs shows a row left running by a killed process as abandoned, and a live run as running', async () => {
    const file = job('dying', 'dying');
    await gate.close();
    let pid: number;
    try {
      const live = start(file, ['--param', 'gate=500', '--run-id', 'killed-run']);
      pid = await gate.waitForCaller('the run to be reading');
      const shown = await mlscale(['runs', '--schema', schema.name, '--job', 'dying', '--json'], { env });
      expect(JSON.parse(shown.stdout).map((r: { run_id: string; status: string }) => [r.run_id, r.status])).toEqual([
        ['killed-run', 'running'],
      ]);
      for (const c of children)
        if (c.exitCode === null && c.signalCode === null && c.spawnargs.includes('killed-run')) c.kill('SIGKILL');
      expect((await live.done).signal).toBe('SIGKILL');
    } finally {
      await gate.open();
    }
    await backendsGone([pid], 'the killed run to leave the server');
    await waitFor('the killed run to hold no lock', async () =>
      (await query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'mlscale'`)).length === 0
        ? true
        : undefined,
    );
    // Nobody ran the partition again: the ledger row still says running, and runs tells the truth.
    expect(await query(`SELECT status FROM ${schema.name}.mlscale_runs WHERE run_id = 'killed-run'`)).toEqual([
      { status: 'running' },
    ]);
    const shown = await mlscale(['runs', '--schema', schema.name, '--status', 'abandoned', '--json'], { env });
    expect(JSON.parse(shown.stdout).map((r: { run_id: string }) => r.run_id)).toEqual(['killed-run']);
    const text = await mlscale(['runs', '--schema', schema.name, '--job', 'dying'], { env });
    expect(text.stdout).toMatch(/killed-run\s.*abandoned/);
    // A run under another shard count settles it: nobody holds its lock.
    expect((await mlscale(['score', '--job', file, '--shard', '0/2'], { env })).code).toBe(0);
    expect(await query(`SELECT status FROM ${schema.name}.mlscale_runs WHERE run_id = 'killed-run'`)).toEqual([
      { status: 'failed' },
    ]);
  });

  it("refuses a view, a table of mlscale's own tree, or a table partitioned otherwise as the sink (exit 2, before scoring)", async () => {
    expect((await mlscale(['score', '--job', job('kinds', 'kinds')], { env })).code).toBe(0);
    const [mid] = await query<{ t: string }>(
      `SELECT relid::regclass::text AS t FROM pg_partition_tree('${schema.name}.kinds') WHERE level = 1`,
    );
    await query(`CREATE VIEW ${schema.name}.a_view AS SELECT * FROM ${schema.name}.kinds`);
    await query(
      `CREATE TABLE ${schema.name}.ranged (id bigint, partition text, run_id text) PARTITION BY RANGE (partition)`,
    );
    const cases: [string, string][] = [
      ['a_view', `error: sink: ${schema.name}.a_view is a view; name a table (mlscale creates it if missing).`],
      [
        mid!.t.replace(`${schema.name}.`, ''),
        `error: sink: ${mid!.t} is a partition of ${schema.name}.kinds; mlscale keeps a table per partition value and per run under its tables: write to ${schema.name}.kinds, or name another table.`,
      ],
      [
        'ranged',
        `error: sink: ${schema.name}.ranged is partitioned in a way of its own; mlscale partitions its tables by LIST (partition), then by run: name another table.`,
      ],
    ];
    for (const [table, message] of cases) {
      const r = await mlscale(['score', '--job', job(`kinds_${table.slice(0, 8)}`, table)], { env });
      expect(r.code, table).toBe(2);
      expect(errorLine(r)).toBe(message);
    }
  });
});
