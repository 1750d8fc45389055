#!/usr/bin/env node
// node scripts/pg-concurrency-bench.mjs [--rows 200000] [--reruns 10] [--source-s 4] [--json]
//
// What runs into one Postgres table cost side by side and again and again, through the real CLI:
// - a first run of a partition of --rows rows, then --reruns re-runs of it: seconds, the size of
//   the prediction table's tree, and its dead rows after each;
// - three shards whose source each takes --source-s seconds (pg_sleep in the query), started
//   together: when each finishes, against one shard alone;
// - a duplicate of a running job and partition: how soon it exits 4.
// Needs `npm run build` and DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { logisticModel } from './lib/onnx-builder.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'mlscale.js');
const argv = process.argv.slice(2);
const get = (name, dflt) => (argv.includes(`--${name}`) ? Number(argv[argv.indexOf(`--${name}`) + 1]) : dflt);
const opt = {
  rows: get('rows', 200_000),
  reruns: get('reruns', 10),
  sourceS: get('source-s', 4),
  json: argv.includes('--json'),
  url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
};
const log = (...m) => process.stderr.write(m.join(' ') + '\n');

const schema = `bench_conc_${process.pid}`;
const dir = path.join(os.tmpdir(), `mlscale-conc-${process.pid}`);

async function sql(text, params = []) {
  const c = new pg.Client({ connectionString: opt.url });
  await c.connect();
  try {
    return (await c.query(text, params)).rows;
  } finally {
    await c.end();
  }
}

function score(job, args = []) {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, 'score', '--job', job, '--no-progress', ...args], {
      env: { ...process.env, DATABASE_URL: opt.url },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, seconds: (performance.now() - t0) / 1000, stderr }));
  });
}

const treeSize = async (table) =>
  (
    await sql(
      `SELECT coalesce(sum(pg_total_relation_size(relid)), 0)::float8 AS bytes FROM pg_partition_tree($1) WHERE isleaf`,
      [`${schema}.${table}`],
    )
  )[0].bytes;
const deadRows = async (table) =>
  (
    await sql(
      `SELECT coalesce(sum(n_dead_tup), 0)::float8 AS n FROM pg_stat_user_tables WHERE schemaname = $1 AND starts_with(relname, $2)`,
      [schema, table],
    )
  )[0].n;

function job(name, table, sleepS = 0) {
  const file = path.join(dir, `${name}.yaml`);
  const sleep = sleepS > 0 ? `, (SELECT pg_sleep(${sleepS})) z` : '';
  writeFileSync(
    file,
    `name: ${name}
params: { ds: "2024-01-01" }
model: { path: model.onnx, features: [x0, x1, x2, x3] }
source:
  postgres: { url: "\${DATABASE_URL}", query: "SELECT id, x0, x1, x2, x3 FROM ${schema}.features${sleep} WHERE ds = :ds::date" }
key: [id]
parallelism: 1
sink:
  postgres: { url: "\${DATABASE_URL}", table: ${schema}.${table} }
`,
  );
  return file;
}

async function main() {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'model.onnx'), logisticModel({ weights: [0.4, -0.3, 0.2, 0.1], bias: 0.05 }));
  await sql(`CREATE SCHEMA ${schema}`);
  await sql(`CREATE TABLE ${schema}.features AS
    SELECT g AS id, DATE '2024-01-01' AS ds, (g % 97) / 97.0 AS x0, (g % 89) / 89.0 AS x1, (g % 83)::float8 / 83 AS x2, (g % 79)::float8 / 79 AS x3
      FROM generate_series(1, ${opt.rows}) g`);
  const result = { rows: opt.rows, reruns: [], shards: {}, duplicate: {} };
  try {
    // 1. Re-runs of one partition.
    const rerun = job('rerun', 'rerun');
    for (let i = 0; i <= opt.reruns; i++) {
      const r = await score(rerun);
      if (r.code !== 0) throw new Error(`re-run ${i} exited ${r.code}: ${r.stderr}`);
      const bytes = await treeSize('rerun');
      const dead = await deadRows('rerun');
      result.reruns.push({ run: i, seconds: r.seconds, mb: bytes / 2 ** 20, dead_rows: dead });
      log(
        `${i === 0 ? 'first run' : `re-run ${i}`}: ${r.seconds.toFixed(2)} s, table ${(bytes / 2 ** 20).toFixed(1)} MB, ${dead} dead rows`,
      );
    }
    const first = result.reruns[0].seconds;
    const later = result.reruns.slice(1).map((r) => r.seconds);
    result.rerun_vs_first = Math.max(...later) / first;
    result.rerun_median_vs_first = later.sort((a, b) => a - b)[Math.floor(later.length / 2)] / first;
    result.size_last_vs_first = result.reruns.at(-1).mb / result.reruns[0].mb;

    // 2. Three shards with a slow source, side by side, against one alone.
    const slow = job('slow', 'slow', opt.sourceS);
    const alone = await score(slow, ['--shard', '0/3', '--param', 'ds=2024-01-01']);
    if (alone.code !== 0) throw new Error(`one shard exited ${alone.code}: ${alone.stderr}`);
    const t0 = performance.now();
    const finishes = await Promise.all(
      [0, 1, 2].map(async (i) => {
        const r = await score(slow, ['--shard', `${i}/3`]);
        if (r.code !== 0) throw new Error(`shard ${i} exited ${r.code}: ${r.stderr}`);
        return (performance.now() - t0) / 1000;
      }),
    );
    result.shards = {
      one_shard_s: alone.seconds,
      three_shards_finish_s: finishes,
      wall_vs_one: Math.max(...finishes) / alone.seconds,
    };
    log(
      `one shard alone: ${alone.seconds.toFixed(2)} s; three together finished at ${finishes.map((s) => s.toFixed(2)).join(', ')} s`,
    );

    // 3. A duplicate of a running job and partition.
    const first3 = score(slow, ['--shard', '0/3']);
    await new Promise((r) => setTimeout(r, 1500));
    const dup = await score(slow, ['--shard', '0/3']);
    await first3;
    result.duplicate = { exit: dup.code, seconds: dup.seconds };
    log(
      `duplicate run: exit ${dup.code} after ${dup.seconds.toFixed(2)} s (the first run's source takes ${opt.sourceS} s)`,
    );
  } finally {
    await sql(`DROP SCHEMA ${schema} CASCADE`);
    rmSync(dir, { recursive: true, force: true });
  }
  if (opt.json) process.stdout.write(JSON.stringify(result) + '\n');
  else {
    process.stdout.write(`| run | seconds | table MB | dead rows |\n|---|---|---|---|\n`);
    for (const r of result.reruns)
      process.stdout.write(
        `| ${r.run === 0 ? 'first' : `re-run ${r.run}`} | ${r.seconds.toFixed(2)} | ${r.mb.toFixed(1)} | ${r.dead_rows} |\n`,
      );
    process.stdout.write(
      `\nslowest re-run / first run: ${result.rerun_vs_first.toFixed(2)} (median ${result.rerun_median_vs_first.toFixed(2)}); size after the last / after the first: ${result.size_last_vs_first.toFixed(2)}\n`,
    );
    process.stdout.write(
      `three shards (source ${opt.sourceS} s each): finished at ${result.shards.three_shards_finish_s.map((s) => s.toFixed(2)).join(', ')} s; one shard alone ${result.shards.one_shard_s.toFixed(2)} s; wall / one = ${result.shards.wall_vs_one.toFixed(2)}\n`,
    );
    process.stdout.write(
      `duplicate run: exit ${result.duplicate.exit} after ${result.duplicate.seconds.toFixed(2)} s\n`,
    );
  }
}

main().catch((err) => {
  log(`pg-concurrency-bench: ${err.message}`);
  process.exit(1);
});
