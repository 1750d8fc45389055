import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { Float32, Int64, Table, vectorFromArray } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, mlscale } from '../support/cli.js';
import { writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';
import { hasStrace, straced } from '../support/strace.js';
import { findRuns } from '../../src/ledger/file-ledger.js';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { logisticModel } from '../../scripts/lib/onnx-builder.mjs';

// DuckDB, an independent reader, reads the Parquet output with the usual globs: every
// prediction exactly once, none of the rejected rows, nothing unpublished, whatever mix of
// unsharded and sharded runs wrote it; and the rejects read whole from a tree of their own.

const s = scratchDir('duckdb');
const ROWS = 4000;
/** Every 50th row has a null f1: rejected under on_null: skip. */
const REJECTED = ROWS / 50;
const SCORED = ROWS - REJECTED;
const out = path.join(s.dir, 'out');
const rejectsRoot = path.join(s.dir, 'rejects');
const jobFile = s.file(
  'job.yaml',
  `name: layout
params: { ds: "2024-01-01" }
model:
  path: model.onnx
  features: [f0, f1, f2]
source:
  parquet: { path: data }
key: [id]
on_null: skip
max_reject_rate: 0.05
rejects: { dir: rejects }
batch_size: 500
parallelism: 1
sink:
  parquet: { path: "out/ds={{ ds }}", rows_per_file: 1000 }
`,
);

let instance: DuckDBInstance;
let db: DuckDBConnection;
const rows = async (sql: string) => (await db.runAndReadAll(sql)).getRowObjectsJson();

beforeAll(async () => {
  writeFileSync(path.join(s.dir, 'model.onnx'), logisticModel({ weights: [1.5, -2, 0.5], bias: 0.1, inputName: 'x' }));
  // Two files of four row groups each: shards split them by row group.
  for (const f of [0, 1]) {
    const ids = Array.from({ length: ROWS / 2 }, (_, i) => f * (ROWS / 2) + i);
    const col = (k: number) =>
      vectorFromArray(
        ids.map((id) => ((id * (k + 3)) % 97) / 97),
        new Float32(),
      );
    writeParquet(
      path.join(s.dir, 'data', `part-${f}.parquet`),
      new Table({
        id: vectorFromArray(
          ids.map((id) => BigInt(id)),
          new Int64(),
        ),
        f0: col(0),
        f1: vectorFromArray(
          ids.map((id) => (id % 50 === 7 ? null : ((id * 5) % 89) / 89)),
          new Float32(),
        ),
        f2: col(2),
      }),
      500,
    );
  }
  instance = await DuckDBInstance.create(':memory:');
  db = await instance.connect();
});
afterAll(() => {
  db?.closeSync();
  instance?.closeSync();
  s.remove();
});

async function score(ds: string, runId: string, shard?: string): Promise<void> {
  const r = await mlscale(
    ['score', '--job', jobFile, '--param', `ds=${ds}`, '--run-id', runId, ...(shard ? ['--shard', shard] : [])],
    { cwd: s.dir },
  );
  expect(errorLine(r), runId).toBe('');
  expect(r.code).toBe(0);
}

const scan = (glob: string) => `read_parquet('${glob}', hive_partitioning = true)`;

/** What DuckDB reads through `glob`: rows, distinct keys, rows per partition, and the columns. */
async function readBack(glob: string) {
  const [total] = await rows(`SELECT count(*)::INT AS n, count(DISTINCT (ds, id))::INT AS keys FROM ${scan(glob)}`);
  const perDay = await rows(
    `SELECT ds::VARCHAR AS ds, count(*)::INT AS n, count(DISTINCT id)::INT AS ids FROM ${scan(glob)} GROUP BY ds ORDER BY ds`,
  );
  const columns = await rows(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM ${scan(glob)})`);
  return { total, perDay, columns };
}

/** The columns one data file has, as DuckDB types them, then the partition column the path adds. */
async function dataColumns(file: string) {
  const own = await rows(
    `SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('${file}', hive_partitioning = false))`,
  );
  return [...own, { column_name: 'ds', column_type: 'DATE' }];
}

/** Both usual globs over the output root read exactly these partitions, SCORED rows each, and only data columns. */
async function expectPredictions(days: string[]): Promise<void> {
  const anyPart = readdirSync(path.join(out, `ds=${days[0]}`)).find((f) => f.endsWith('.parquet'))!;
  const columns = await dataColumns(path.join(out, `ds=${days[0]}`, anyPart));
  expect(columns.map((c) => c.column_name)).toEqual([
    'id',
    'score',
    'label',
    'model_name',
    'model_version',
    'partition',
    'run_id',
    'scored_at',
    'ds',
  ]);
  expect(columns.slice(0, 2)).toEqual([
    { column_name: 'id', column_type: 'BIGINT' },
    { column_name: 'score', column_type: 'DOUBLE' },
  ]);
  for (const glob of [`${out}/**/*.parquet`, `${out}/*/*.parquet`]) {
    const got = await readBack(glob);
    expect(got.total, glob).toEqual({ n: days.length * SCORED, keys: days.length * SCORED });
    expect(got.perDay, glob).toEqual(days.map((ds) => ({ ds, n: SCORED, ids: SCORED })));
    expect(got.columns, glob).toEqual(columns);
  }
}

/** The rejects tree reads whole on its own: REJECTED rows a partition, with their reason. */
async function expectRejects(days: string[]): Promise<void> {
  const src = scan(`${rejectsRoot}/**/*.parquet`);
  expect(await rows(`SELECT ds::VARCHAR AS ds, count(*)::INT AS n FROM ${src} GROUP BY ds ORDER BY ds`)).toEqual(
    days.map((ds) => ({ ds, n: REJECTED })),
  );
  expect(await rows(`SELECT DISTINCT reason FROM ${src}`)).toEqual([{ reason: 'null in f1' }]);
  const names = (await rows(`SELECT column_name FROM (DESCRIBE SELECT * FROM ${src})`)).map((c) => c.column_name);
  expect(names).toEqual(['id', 'reason', 'job', 'partition', 'shard', 'run_id', 'rejected_at', 'ds']);
}

const files = (day: string, root = out) => readdirSync(path.join(root, `ds=${day}`)).sort();
const runFile = (day: string, name: string) =>
  JSON.parse(readFileSync(path.join(out, `ds=${day}`, name), 'utf8')) as { run_id: string; rows_written: number };

describe('Parquet output read by DuckDB with the usual globs', () => {
  it('an unsharded run: predictions under the root, rejects in their own tree', async () => {
    await score('2024-01-01', 'u1');
    const names = files('2024-01-01');
    expect(names.filter((f) => !f.startsWith('part-'))).toEqual(['_SUCCESS', '_mlscale_run.json']);
    expect(names.filter((f) => f.startsWith('part-')).every((f) => /^part-\d{5}\.parquet$/.test(f))).toBe(true);
    expect(files('2024-01-01', rejectsRoot)).toEqual(['_SUCCESS', 'part-00000.parquet']);
    // Nothing else under the root: no staging, no locks; the ledger holds JSON only.
    expect(readdirSync(out).sort()).toEqual(['_mlscale', 'ds=2024-01-01']);
    await expectPredictions(['2024-01-01']);
    await expectRejects(['2024-01-01']);
  });

  it('two shards run side by side and publish their files at partition depth', async () => {
    await Promise.all([score('2024-01-02', 'p0', '0/2'), score('2024-01-02', 'p1', '1/2')]);
    const names = files('2024-01-02');
    expect(names.filter((f) => !f.startsWith('part-'))).toEqual([
      '_SUCCESS',
      '_mlscale_run-s0of2.json',
      '_mlscale_run-s1of2.json',
    ]);
    expect(names.filter((f) => f.startsWith('part-')).every((f) => /^part-s[01]of2-\d{5}\.parquet$/.test(f))).toBe(
      true,
    );
    expect(files('2024-01-02', rejectsRoot)).toEqual([
      '_SUCCESS',
      'part-s0of2-00000.parquet',
      'part-s1of2-00000.parquet',
    ]);
    await expectPredictions(['2024-01-01', '2024-01-02']);
    await expectRejects(['2024-01-01', '2024-01-02']);
  });

  it('shards over an unsharded partition replace it shard by shard; _SUCCESS once all are in', async () => {
    await score('2024-01-03', 'u3');
    await score('2024-01-03', 's0', '0/2');
    // The unsharded run's files are gone with the first shard's publish: no row is counted twice.
    expect(files('2024-01-03')).toEqual(
      ['_mlscale_run-s0of2.json', ...files('2024-01-03').filter((f) => f.startsWith('part-s0of2-'))].sort(),
    );
    const firstShard = runFile('2024-01-03', '_mlscale_run-s0of2.json').rows_written;
    expect(
      await rows(
        `SELECT run_id, count(*)::INT AS n FROM ${scan(`${out}/**/*.parquet`)} WHERE ds = '2024-01-03' GROUP BY run_id`,
      ),
    ).toEqual([{ run_id: 's0', n: firstShard }]);
    await score('2024-01-03', 's1', '1/2');
    expect(files('2024-01-03')).toContain('_SUCCESS');
    await expectPredictions(['2024-01-01', '2024-01-02', '2024-01-03']);
    await expectRejects(['2024-01-01', '2024-01-02', '2024-01-03']);
  });

  it('a partition re-scored under another shard count holds only the new count’s files', async () => {
    await Promise.all([0, 1, 2].map((i) => score('2024-01-02', `t${i}`, `${i}/3`)));
    const names = files('2024-01-02');
    expect(names.filter((f) => f.endsWith('.parquet')).every((f) => /^part-s[012]of3-\d{5}\.parquet$/.test(f))).toBe(
      true,
    );
    expect(names.filter((f) => f.endsWith('.json'))).toEqual([
      '_mlscale_run-s0of3.json',
      '_mlscale_run-s1of3.json',
      '_mlscale_run-s2of3.json',
    ]);
    expect(
      await rows(`SELECT DISTINCT run_id FROM ${scan(`${out}/*/*.parquet`)} WHERE ds = '2024-01-02' ORDER BY run_id`),
    ).toEqual([{ run_id: 't0' }, { run_id: 't1' }, { run_id: 't2' }]);
    expect(files('2024-01-02', rejectsRoot)).toEqual([
      '_SUCCESS',
      'part-s0of3-00000.parquet',
      'part-s1of3-00000.parquet',
      'part-s2of3-00000.parquet',
    ]);
    await expectPredictions(['2024-01-01', '2024-01-02', '2024-01-03']);
    await expectRejects(['2024-01-01', '2024-01-02', '2024-01-03']);
    // Every run is in the root's ledger once, as the partitions show the live ones.
    const runs = await findRuns(out);
    expect(runs.map((r) => r.run_id).sort()).toEqual(['p0', 'p1', 's0', 's1', 't0', 't1', 't2', 'u1', 'u3']);
    expect(new Set(runs.map((r) => r.status))).toEqual(new Set(['succeeded']));
  });
});

describe.skipIf(!hasStrace)('a shard’s publish killed at any rename, unlink or rmdir', () => {
  it('leaves the other shard’s files, and all of its own old or new files, never a mix', async () => {
    const day = '2024-01-04';
    await score(day, 'b0', '0/2');
    await score(day, 'b1', '1/2');
    const dir = path.join(out, `ds=${day}`);
    const shardRows = [0, 1].map((i) => runFile(day, `_mlscale_run-s${i}of2.json`).rows_written);
    /** Rows per run id in the partition directory itself, as DuckDB reads them. */
    const byRun = async (glob = `${dir}/*.parquet`) =>
      Object.fromEntries(
        (
          await rows(
            `SELECT run_id, count(*)::INT AS n FROM ${scan(glob)} WHERE ds = '${day}' GROUP BY run_id ORDER BY run_id`,
          )
        ).map((r) => [r.run_id as string, r.n as number]),
      );
    const shard1 = ['score', '--job', jobFile, '--param', `ds=${day}`, '--shard', '1/2', '--run-id'];
    let shard0 = 'b0';
    for (const syscall of ['rename', 'unlink', 'rmdir']) {
      const total = straced(s.dir, [...shard1, `c-${syscall}`], syscall).count;
      expect(total).toBeGreaterThan(0);
      for (let n = 1; n <= total; n++) {
        const before = runFile(day, '_mlscale_run-s1of2.json').run_id;
        const killedId = `k-${syscall}-${n}`;
        expect(straced(s.dir, [...shard1, killedId], syscall, n).status, killedId).toBeNull();
        // Between the swap's two renames the partition may be missing, never half there.
        if (existsSync(dir)) {
          const seen = await byRun();
          expect(seen[shard0], `${killedId}: shard 0`).toBe(shardRows[0]);
          const one = Object.keys(seen).filter((id) => id !== shard0);
          expect(one.length, `${killedId}: one run of shard 1`).toBe(1);
          expect([before, killedId]).toContain(one[0]);
          expect(seen[one[0]!]).toBe(shardRows[1]);
        }
        // The recipe's glob names the partition key, so it never reaches a hidden copy, even now.
        expect(await byRun(`${out}/ds=*/*.parquet`), `${killedId}: ds=*/*.parquet`).toEqual(
          existsSync(dir) ? await byRun() : {},
        );
        // The other shard's next run recovers the partition first and keeps shard 1 whole.
        shard0 = `n-${syscall}-${n}`;
        await score(day, shard0, '0/2');
        const seen = await byRun(`${out}/**/*.parquet`);
        const live1 = runFile(day, '_mlscale_run-s1of2.json').run_id;
        expect([before, killedId]).toContain(live1);
        expect(seen).toEqual({ [shard0]: shardRows[0], [live1]: shardRows[1] });
        expect(files(day)).toContain('_SUCCESS');
        // No set-aside or half-built copy is left; the dead shard's staging holds no .parquet file.
        const beside = readdirSync(out).filter((f) => f.startsWith(`.ds=${day}`));
        expect(beside.filter((f) => /\.mlscale[~+]/.test(f))).toEqual([]);
        for (const f of beside.filter((x) => statSync(path.join(out, x), { throwIfNoEntry: false })?.isDirectory()))
          expect(readdirSync(path.join(out, f)).filter((x) => x.endsWith('.parquet'))).toEqual([]);
        if (live1 === killedId)
          expect((await findRuns(out)).find((r) => r.run_id === killedId)?.status).toBe('succeeded');
        // Shard 1's next run clears what its killed run left, so every kill starts from the same state.
        await score(day, `m-${syscall}-${n}`, '1/2');
        expect(readdirSync(out).filter((f) => f.startsWith(`.ds=${day}`))).toEqual([]);
        // ...and settles its record: succeeded where its files went live, failed (or never begun) otherwise.
        const settled = (await findRuns(out)).find((r) => r.run_id === killedId)?.status;
        if (live1 === killedId) expect(settled).toBe('succeeded');
        else expect([undefined, 'failed']).toContain(settled);
      }
    }
  }, 600_000);
});
