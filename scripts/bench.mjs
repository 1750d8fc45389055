#!/usr/bin/env node
// npm run bench [-- --rows N --features F --parallelism P --json --rss-rows a,b --no-rss --naive-rows N]
//
// Measures, in one run on this machine: the stage ceilings (Parquet read, inference in the
// scorer pool, COPY write), mlscale end to end (Parquet→Parquet and Parquet→Postgres, an MLP
// and a tree ensemble, at parallelism 1 and N), a naive baseline written the way a Node user
// would, and peak RSS per input size. Data and models are generated from fixed seeds.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Table, makeVector, tableToIPC } from 'apache-arrow';
import pg from 'pg';
import * as pw from 'parquet-wasm';
import { mlpModel, rng, treeEnsembleModel } from './lib/onnx-builder.mjs';
import { writeFeatureFiles } from './lib/parquet-data.mjs';
import { scanParquet, parquetSourceOver } from '../dist/source/parquet.js';
import { ScorerPool } from '../dist/scoring/scorer-pool.js';
import { PostgresSink } from '../dist/sink/postgres.js';
import { newRunRecord } from '../dist/ledger/record.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dataRoot = path.join(root, 'bench-data');

function args() {
  const a = process.argv.slice(2);
  const get = (name, dflt) => {
    const i = a.indexOf(`--${name}`);
    return i >= 0 ? a[i + 1] : dflt;
  };
  const rows = Number(get('rows', 1_000_000));
  return {
    rows,
    features: Number(get('features', 32)),
    parallelism: Number(get('parallelism', availableParallelism())),
    batchSize: Number(get('batch-size', 8192)),
    json: a.includes('--json'),
    rssRows: a.includes('--no-rss')
      ? []
      : String(get('rss-rows', `${rows},${rows * 10}`))
          .split(',')
          .map(Number),
    naiveRows: Number(get('naive-rows', Math.min(rows, 100_000))),
    url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  };
}
const opt = args();
const log = (...m) => process.stderr.write(m.join(' ') + '\n');

function ensureData(rows, features) {
  const dir = path.join(dataRoot, `rows${rows}-f${features}`);
  const marker = path.join(dir, '_COMPLETE');
  if (!existsSync(marker)) {
    rmSync(dir, { recursive: true, force: true });
    log(`bench: generating ${rows} rows × ${features} features in ${path.relative(root, dir)}`);
    // 250k rows per file (~50 MB): a common part-file size for Spark and pyarrow output.
    writeFeatureFiles(dir, { rows, features, files: Math.ceil(rows / 250_000), rowGroupSize: 131_072, seed: 7 });
    writeFileSync(marker, '');
  }
  return dir;
}

function ensureModels(features) {
  const models = {
    mlp: path.join(dataRoot, `mlp-f${features}.onnx`),
    trees: path.join(dataRoot, `trees-f${features}.onnx`),
  };
  if (!existsSync(models.mlp)) writeFileSync(models.mlp, mlpModel({ features, hidden: [64, 64], seed: 1 }));
  if (!existsSync(models.trees))
    writeFileSync(models.trees, treeEnsembleModel({ features, trees: 100, depth: 6, seed: 2 }));
  return models;
}

const time = async (fn) => {
  const t = process.hrtime.bigint();
  const v = await fn();
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, v };
};

async function readCeiling(dir) {
  const files = await scanParquet(dir);
  const source = parquetSourceOver(files.schema, files.groups, { batchSize: opt.batchSize }, dir);
  const { ms, v } = await time(async () => {
    let n = 0;
    for await (const b of source.batches()) n += b.numRows;
    return n;
  });
  return (v / ms) * 1000;
}

async function inferCeiling(modelFile, parallelism, rows, features) {
  const pool = new ScorerPool({
    threads: parallelism,
    models: [{ modelBytes: readFileSync(modelFile), modelFile, providers: ['cpu'], intraOpThreads: 1 }],
  });
  const rand = rng(3);
  const template = Float32Array.from({ length: opt.batchSize * features }, () => rand());
  const task = (i) => ({
    chunk: i,
    model: 0,
    feeds: [{ input: 'X', type: 'float32', dims: [opt.batchSize, features], data: template.slice() }],
    fetch: ['y'],
    rowByRow: false,
  });
  await Promise.all(Array.from({ length: parallelism * 2 }, (_, i) => pool.score(task(i)))); // warm every worker's session
  const chunks = Math.ceil(rows / opt.batchSize);
  const { ms } = await time(async () => {
    const inflight = [];
    for (let i = 0; i < chunks; i++) {
      inflight.push(pool.score(task(i)));
      if (inflight.length >= 2 * parallelism) await inflight.shift();
    }
    await Promise.all(inflight);
  });
  await pool.close();
  return ((chunks * opt.batchSize) / ms) * 1000;
}

async function copyCeiling(rows, schema) {
  const id = makeVector(BigInt64Array.from({ length: opt.batchSize }, (_, i) => BigInt(i)));
  const keyFields = new Table({ id }).schema.fields;
  const runId = `copy-${Date.now()}`;
  const layout = {
    job: 'bench_copy',
    shard: { index: 0, count: 1 },
    keyFields,
    outputs: [{ column: 'y', output: 'y', sqlType: 'double precision' }],
    modelName: 'bench',
    modelVersion: '1',
    models: [{ name: 'bench', version: '1' }],
    partition: 'p',
    // The rows' run_id and the ledger row's are one id, as in a real run: the run's own table is
    // checked against it.
    runId,
    scoredAt: new Date(),
  };
  const sink = new PostgresSink({ url: opt.url, schema, table: 'copy_ceiling' }, layout);
  const rand = rng(4);
  const y = Float64Array.from({ length: opt.batchSize }, () => Math.fround(rand()));
  const record = newRunRecord({
    run_id: runId,
    job: 'bench_copy',
    partition: 'p',
    shard: '0/1',
    params: {},
    model_name: 'bench',
    model_version: '1',
    model_sha256: '-',
    started_at: new Date().toISOString(),
  });
  const chunks = Math.ceil(rows / opt.batchSize);
  const { ms } = await time(async () => {
    await sink.begin(record);
    for (let i = 0; i < chunks; i++)
      await sink.write({
        index: i,
        rows: opt.batchSize,
        keys: [id],
        keep: undefined,
        predictions: [{ column: 'y', sqlType: 'double precision', values: y }],
      });
    record.status = 'succeeded';
    record.finished_at = new Date().toISOString();
    await sink.publish(record);
  });
  await sink.close();
  return ((chunks * opt.batchSize) / ms) * 1000;
}

function jobFile(name, model, dataDir, sink, features) {
  const file = path.join(dataRoot, `${name}.yaml`);
  const sinkLine = sink.postgres
    ? `postgres: { url: "\${DATABASE_URL}", table: ${sink.postgres} }`
    : `parquet: { path: "${sink.parquet}" }`;
  writeFileSync(
    file,
    `name: ${name}\nparams: { ds: "2024-01-01" }\nmodel:\n  path: ${model}\n  features: [${Array.from({ length: features }, (_, i) => `f${i}`).join(', ')}]\n` +
      `source:\n  parquet: { path: "${dataDir}" }\nkey: [id]\nbatch_size: ${opt.batchSize}\nsink:\n  ${sinkLine}\n`,
  );
  return file;
}

/** Runs the real CLI in its own process and returns its JSON result (rows/s, peak RSS). */
function cli(job, parallelism) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        path.join(root, 'bin', 'mlscale.js'),
        'score',
        '--job',
        job,
        '--parallelism',
        String(parallelism),
        '--json',
        '--log-format',
        'json',
      ],
      {
        env: { ...process.env, DATABASE_URL: opt.url },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(out))
        : reject(
            new Error(
              `mlscale exited ${code}: ${err
                .split('\n')
                .filter((l) => l.startsWith('error'))
                .join(' ')}`,
            ),
          ),
    );
  });
}

async function naive(modelFile, rows, features, schema) {
  // The script a Node user would write: parquetjs-lite's row cursor, one onnxruntime session on
  // the main thread, and a multi-row INSERT of 1000 rows per statement.
  const { default: parquet } = await import('parquetjs-lite');
  const ort = await import('onnxruntime-node');
  const file = path.join(dataRoot, `naive-${rows}-f${features}.parquet`);
  if (!existsSync(file)) {
    // parquetjs-lite reads neither dictionary pages nor ZSTD: write what it can read.
    const rand = rng(9);
    const cols = { id: makeVector(BigInt64Array.from({ length: rows }, (_, i) => BigInt(i))) };
    for (let c = 0; c < features; c++) cols[`f${c}`] = makeVector(Float32Array.from({ length: rows }, () => rand()));
    const props = new pw.WriterPropertiesBuilder()
      .setCompression(pw.Compression.SNAPPY)
      .setDictionaryEnabled(false)
      .setWriterVersion(pw.WriterVersion.V1)
      .build();
    writeFileSync(file, pw.writeParquet(pw.Table.fromIPCStream(tableToIPC(new Table(cols), 'stream')), props));
  }
  const client = new pg.Client({ connectionString: opt.url });
  await client.connect();
  await client.query(`CREATE TABLE ${schema}.naive (id bigint, y double precision)`);
  const session = await ort.InferenceSession.create(modelFile);
  const { ms } = await time(async () => {
    const reader = await parquet.ParquetReader.openFile(file);
    const cursor = reader.getCursor();
    let batch = [];
    const flush = async () => {
      const x = new Float32Array(batch.length * features);
      batch.forEach((r, i) => {
        for (let f = 0; f < features; f++) x[i * features + f] = r[`f${f}`];
      });
      const y = (await session.run({ X: new ort.Tensor('float32', x, [batch.length, features]) })).y.data;
      const values = batch.map((_, i) => `($${i * 2 + 1}, $${i * 2 + 2})`).join(',');
      await client.query(
        `INSERT INTO ${schema}.naive (id, y) VALUES ${values}`,
        batch.flatMap((r, i) => [String(r.id), y[i]]),
      );
      batch = [];
    };
    let row;
    while ((row = await cursor.next())) {
      batch.push(row);
      if (batch.length === 1000) await flush();
    }
    if (batch.length) await flush();
    await reader.close();
  });
  await client.end();
  return (rows / ms) * 1000;
}

async function main() {
  const F = opt.features;
  const N = opt.parallelism;
  const dir = ensureData(opt.rows, F);
  const models = ensureModels(F);
  const out = path.join(dataRoot, 'out');
  const db = new pg.Client({ connectionString: opt.url });
  let pgOk = true;
  try {
    await db.connect();
  } catch (e) {
    pgOk = false;
    log(`bench: PostgreSQL unavailable at ${opt.url} (${e.message}); skipping the Postgres figures`);
  }
  const schema = `bench_${process.pid}`;
  if (pgOk) await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`);
  const byRows = {};
  const r = {
    rows: opt.rows,
    features: F,
    parallelism: N,
    batch_size: opt.batchSize,
    ceilings: {},
    e2e: {},
    naive: {},
    ratios: {},
    peak_rss_mb: {},
  };
  try {
    log('bench: read ceiling');
    r.ceilings.parquet_read = await readCeiling(dir);
    for (const m of ['mlp', 'trees']) {
      for (const p of [...new Set([1, N])]) {
        log(`bench: inference ceiling ${m} p=${p}`);
        r.ceilings[`infer_${m}_p${p}`] = await inferCeiling(models[m], p, opt.rows, F);
      }
    }
    if (pgOk) {
      log('bench: COPY ceiling');
      r.ceilings.copy_write = await copyCeiling(opt.rows, schema);
    }
    for (const m of ['mlp', 'trees']) {
      for (const sinkKind of pgOk ? ['parquet', 'postgres'] : ['parquet']) {
        for (const p of [...new Set([1, N])]) {
          const name = `bench_${m}_${sinkKind}`;
          // A table per run: each run measures a first write, as the COPY ceiling does (a re-run also deletes the old partition).
          const sink =
            sinkKind === 'postgres' ? { postgres: `${schema}.${m}_scores_p${p}` } : { parquet: path.join(out, name) };
          log(`bench: end to end ${m} → ${sinkKind} p=${p}`);
          const res = await cli(jobFile(name, models[m], dir, sink, F), p);
          r.e2e[`${m}_${sinkKind}_p${p}`] = res.rowsPerSecond;
          r.peak_rss_mb[`${m}_${sinkKind}_p${p}`] = res.peakRssMb;
        }
      }
    }
    if (pgOk && opt.naiveRows > 0) {
      log(`bench: naive baseline (${opt.naiveRows} rows)`);
      r.naive.mlp_postgres = await naive(models.mlp, opt.naiveRows, F, schema);
    }
    for (const rows of opt.rssRows) {
      log(`bench: peak RSS at ${rows} rows (mlp → parquet, p=${N})`);
      const d = ensureData(rows, F);
      const res = await cli(
        jobFile(`bench_rss_${rows}`, models.mlp, d, { parquet: path.join(out, `rss_${rows}`) }, F),
        N,
      );
      byRows[rows] = res.peakRssMb;
      rmSync(path.join(out, `rss_${rows}`), { recursive: true, force: true });
    }
    r.peak_rss_mb.by_rows = byRows;
  } finally {
    if (pgOk) {
      await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await db.end();
    }
  }
  const ratio = (a, b) => (a && b ? a / b : null);
  r.ratios = {
    trees_parquet_e2e_vs_infer: ratio(r.e2e[`trees_parquet_p${N}`], r.ceilings[`infer_trees_p${N}`]),
    mlp_postgres_e2e_vs_copy: ratio(r.e2e[`mlp_postgres_p${N}`], r.ceilings.copy_write),
    trees_parallel_scaling: ratio(r.e2e[`trees_parquet_p${N}`], r.e2e.trees_parquet_p1),
    trees_infer_parallel_scaling: ratio(r.ceilings[`infer_trees_p${N}`], r.ceilings.infer_trees_p1),
    postgres_vs_naive: ratio(r.e2e[`mlp_postgres_p${N}`], r.naive.mlp_postgres),
  };
  const rss = Object.values(byRows);
  if (rss.length >= 2) r.ratios.rss_largest_vs_smallest = rss[rss.length - 1] / rss[0];
  if (opt.json) {
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    return;
  }
  const k = (x) => (x === undefined || x === null ? '-' : `${(x / 1000).toFixed(0)}k`);
  const lines = [
    `mlscale bench: ${opt.rows.toLocaleString('en-US')} rows × ${F} float features, batch ${opt.batchSize}, parallelism N=${N}, ${availableParallelism()} CPUs`,
    '',
    '| stage | rows/s |',
    '|---|---|',
  ];
  for (const [name, v] of Object.entries(r.ceilings)) lines.push(`| ceiling: ${name} | ${k(v)} |`);
  for (const [name, v] of Object.entries(r.e2e))
    lines.push(`| end to end: ${name} (peak RSS ${r.peak_rss_mb[name]} MB) | ${k(v)} |`);
  for (const [name, v] of Object.entries(r.naive)) lines.push(`| naive baseline: ${name} | ${k(v)} |`);
  lines.push('', '| ratio | value |', '|---|---|');
  for (const [name, v] of Object.entries(r.ratios)) lines.push(`| ${name} | ${v === null ? '-' : v.toFixed(2)} |`);
  if (Object.keys(byRows).length > 0) {
    lines.push('', '| input rows | peak RSS (mlp → parquet) |', '|---|---|');
    for (const [rows, mb] of Object.entries(byRows))
      lines.push(`| ${Number(rows).toLocaleString('en-US')} | ${mb} MB |`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e.stack ?? e}\n`);
  process.exit(1);
});
