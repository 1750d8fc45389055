#!/usr/bin/env node
// npm run bench [-- --rows N --features F --parallelism P --runs K --json --rss-rows a,b --no-rss --naive-rows N --peer-rows a,b]
//
// Measures, in one run on this machine: the stage ceilings (Parquet read, inference in the
// scorer pool, COPY write, binary COPY decoding); each job's stages alone on one thread and,
// from the CPU that serial run used (every thread), the limit of the whole pipeline on this
// machine's cores, and the earlier limit from the stages' own time; mlscale end to end
// (Parquet→Parquet and Parquet→Postgres, an MLP and a tree ensemble, at parallelism 1 and N)
// against that limit; the Python peer (scripts/peer/python_peer.py) on a Postgres→Postgres job;
// a naive baseline written the way a Node user would; and peak RSS per input size. Data and
// models are generated from fixed seeds.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Table, makeVector, tableToIPC } from 'apache-arrow';
import pg from 'pg';
import * as pw from 'parquet-wasm';
import { to as copyTo } from 'pg-copy-streams';
import { forestModel, mlpModel, rng, treeEnsembleModel } from './lib/onnx-builder.mjs';
import { PgBinaryDecoder } from '../dist/pg/copy-decoder.js';
import { writeFeatureFiles } from './lib/parquet-data.mjs';
import { scanParquet, parquetSourceOver } from '../dist/source/parquet.js';
import { ScorerPool } from '../dist/scoring/scorer-pool.js';
import { PostgresSink } from '../dist/sink/postgres.js';
import { newRunRecord } from '../dist/ledger/record.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dataRoot = path.join(root, 'bench-data');

function positiveInteger(name, text) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`bench: --${name} takes a whole number of 1 or more (got ${JSON.stringify(text)}).\n`);
    process.exit(2);
  }
  return n;
}

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
    // Each job is run this many times, serially and end to end, and the median counts: one run on
    // two shared cores varied by 5-10% from the next, which a ratio near its goal cannot tell from
    // a change.
    runs: positiveInteger('runs', get('runs', '3')),
    json: a.includes('--json'),
    rssRows: a.includes('--no-rss')
      ? []
      : String(get('rss-rows', `${rows},${rows * 10}`))
          .split(',')
          .map(Number),
    naiveRows: Number(get('naive-rows', Math.min(rows, 100_000))),
    peerRows: String(get('peer-rows', '200000,1000000')).split(',').filter(Boolean).map(Number),
    url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  };
}
const opt = args();

/** The item whose `key` is the median (the lower middle of an even count). */
function medianBy(items, key) {
  return [...items].sort((a, b) => key(a) - key(b))[Math.floor((items.length - 1) / 2)];
}
const log = (...m) => process.stderr.write(m.join(' ') + '\n');
const N_CPUS = availableParallelism();

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
  // Every worker from the start: this is the ceiling of `parallelism` workers scoring at once.
  const pool = new ScorerPool({
    threads: parallelism,
    eager: true,
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

/**
 * Runs the real CLI in its own process and returns its JSON result (rows/s, peak RSS, stage
 * timings) with `wallMs`, the process's whole life as a user waits for it.
 */
function cli(job, parallelism, env = {}, extra = []) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    // The command as users run it: bin/mlscale, the launcher that sets the allocator, with this node.
    const child = spawn(
      path.join(root, 'bin', 'mlscale'),
      ['score', '--job', job, '--parallelism', String(parallelism), '--json', '--log-format', 'json', ...extra],
      {
        env: {
          ...process.env,
          PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`,
          DATABASE_URL: opt.url,
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      if (code === 0) resolve({ ...JSON.parse(out), wallMs });
      else
        reject(
          new Error(
            `mlscale exited ${code}: ${err
              .split('\n')
              .filter((l) => l.includes('error'))
              .join(' ')}`,
          ),
        );
    });
  });
}

/** The same job with every stage run alone, one chunk at a time (MLSCALE_BENCH_SERIAL). */
const serialRun = (job) => cli(job, 1, { MLSCALE_BENCH_SERIAL: '1' });

const MAIN_STAGES = ['read_ms', 'tensors_ms', 'stats_ms', 'write_ms', 'publish_ms'];

/**
 * The fastest this machine's cores could run the job, from the stages' own costs in a serial
 * run: the set-up (planning, DDL) as it is, then every stage's work (inference, and the hand-off
 * to and from the worker, included) spread over all cores with nothing idle. In the serial run
 * nothing is decoded or encoded ahead, so the Parquet thread's work is inside read and write.
 * `serverMs` is the work a PostgreSQL server on these same cores did that no stage waited for
 * (parsing and storing the COPY while the next chunk was read): it takes a core as much as any
 * stage does, so a limit without it is one no program could reach.
 */
function limitOf(serial, cores, serverMs = 0) {
  const t = serial.timings;
  const main = MAIN_STAGES.reduce((n, k) => n + t[k], 0);
  const handoff = Math.max(0, t.wait_ms - t.inference_ms);
  const setup = Math.max(0, serial.durationMs - main - t.wait_ms);
  return { ms: setup + (main + t.inference_ms + handoff + serverMs) / cores, setupMs: setup };
}

/**
 * The limit from all the CPU the serial run used after its first chunk (timings.cpu_ms: every
 * thread of the process), not only the stages' own time. The stages do not count what the
 * runtime does for them on its own threads: V8 compiling parquet-wasm's hot functions and the
 * JavaScript, and collecting garbage (perf: 25-30% of a 1M-row run's CPU). In the serial run that
 * work has the second core to itself; end to end it takes its share of both, like any stage.
 */
function cpuLimitOf(serial, cores, serverMs = 0) {
  // `serverMs` here is all the server's CPU during the run beyond its background rate: the
  // process's CPU does not count the time the client waited for it.
  const setup = limitOf(serial, cores).setupMs;
  return { ms: setup + (serial.timings.cpu_ms + serverMs) / cores, setupMs: setup };
}

/**
 * CPU milliseconds the PostgreSQL server has used so far, when it runs on this machine (null when
 * its processes cannot be seen): the postmaster, its live children, and the children it reaped
 * (a backend's time moves to the postmaster's cutime when its session ends).
 */
async function serverCpuMs(db) {
  const { rows } = await db.query('SELECT pg_backend_pid() AS pid');
  const stat = (pid) => {
    try {
      const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name, which is in parentheses and may hold spaces.
      return text.slice(text.lastIndexOf(')') + 2).split(' ');
    } catch {
      return undefined;
    }
  };
  const backend = stat(rows[0].pid);
  if (!backend) return null;
  const postmaster = Number(backend[1]);
  const own = stat(postmaster);
  if (!own) return null;
  // Fields from the state on: ppid is [1], utime [11], stime [12], cutime [13], cstime [14].
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = stat(entry);
    if (f && Number(f[1]) === postmaster) ticks += Number(f[11]) + Number(f[12]);
  }
  return (ticks * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/**
 * The server's CPU during a serial run that the run's own stages did not already count: what it
 * used, less what it was using before the run at the same rate (other sessions' work), less the
 * time the client spent in set-up, write and publish (where it may have waited for the server).
 * Less may be subtracted than was waited, never more: the limit errs fast.
 */
async function serialWithServer(db, job) {
  const idleFrom = await serverCpuMs(db);
  await new Promise((r) => setTimeout(r, 500));
  const before = idleFrom === null ? null : await serverCpuMs(db);
  const idleRate = before === null ? 0 : (before - idleFrom) / 500;
  if (idleRate > 0.05)
    log(
      `bench: the PostgreSQL server used ${Math.round(idleRate * 100)}% of a core before the run: its figures are rough`,
    );
  const serial = await serialRun(job);
  // A backend's time reaches the postmaster once it is reaped, just after the CLI disconnects.
  await new Promise((r) => setTimeout(r, 300));
  const after = before === null ? null : await serverCpuMs(db);
  const usedMs = after === null ? null : Math.max(0, after - before - idleRate * (serial.wallMs + 300));
  const t = serial.timings;
  const waited = t.write_ms + t.publish_ms + limitOf(serial, 1).setupMs;
  const uncountedMs = usedMs === null ? 0 : Math.max(0, usedMs - waited);
  return { serial, serverUsedMs: usedMs, serverUncountedMs: uncountedMs };
}

/** Rows per second of each stage alone, from a serial run's timings. */
function stageRates(serial) {
  const rows = serial.rowsRead;
  const rate = (ms) => (ms > 0 ? (rows / ms) * 1000 : null);
  const t = serial.timings;
  return {
    read: rate(t.read_ms),
    tensors: rate(t.tensors_ms),
    inference: rate(t.inference_ms),
    stats: rate(t.stats_ms),
    write: rate(t.write_ms),
    // Decoding and encoding on the Parquet thread; in the serial run it is inside read and write.
    parquet_thread: rate(t.parquet_ms ?? 0),
  };
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

/** A Python 3 with scikit-learn, pandas and psycopg2 (Debian's python3-sklearn, -pandas, -psycopg2), or undefined. */
function findPython() {
  for (const exe of [process.env.MLSCALE_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean)) {
    const r = spawnSync(exe, ['-c', 'import sklearn, pandas, psycopg2'], { stdio: 'ignore' });
    if (r.status === 0) return exe;
  }
  return undefined;
}

function timed(cmd, args, env = {}) {
  const started = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { wallMs: Number(process.hrtime.bigint() - started) / 1e6, stdout: r.stdout };
}

/**
 * mlscale against the job written as a Python engineer would (scripts/peer/python_peer.py):
 * Postgres to Postgres, 30 real features and a bigint key, a 60-tree depth-8 random forest
 * fitted by scikit-learn and scored by both (mlscale through the same forest as ONNX), into a
 * new partition and replacing it. Both are timed as a user waits for them: the whole process.
 */
async function pythonPeer(db, schema, sizes) {
  const python = findPython();
  if (!python) {
    log(
      'bench: NOTICE: no python3 with scikit-learn, pandas and psycopg2 (apt install python3-sklearn python3-pandas python3-psycopg2); skipping the Python peer',
    );
    return undefined;
  }
  const features = 30;
  const cols = Array.from({ length: features }, (_, i) => `f${i}`);
  for (const rows of sizes) {
    await db.query(`SELECT setseed(0.5)`);
    await db.query(
      `CREATE TABLE ${schema}.peer_${rows} AS SELECT g::bigint AS id, ${cols.map((c) => `random()::real AS ${c}`).join(', ')} FROM generate_series(1, ${rows}) g`,
    );
    await db.query(`ANALYZE ${schema}.peer_${rows}`);
  }
  const forestJson = path.join(dataRoot, 'peer-forest.json');
  timed(python, [
    path.join(root, 'scripts/peer/python_peer.py'),
    'train',
    opt.url,
    `${schema}.peer_${sizes[0]}`,
    forestJson,
  ]);
  const onnxFile = path.join(dataRoot, 'peer-forest.onnx');
  writeFileSync(onnxFile, forestModel(JSON.parse(readFileSync(forestJson, 'utf8'))));
  const out = { python: {}, mlscale: {}, ratios: {}, max_abs_diff: {} };
  for (const rows of sizes) {
    const job = path.join(dataRoot, `peer_${rows}.yaml`);
    writeFileSync(
      job,
      `name: peer_${rows}\nparams: { ds: "2024-01-01" }\nmodel:\n  path: ${onnxFile}\n  features: [${cols.join(', ')}]\n` +
        `source:\n  postgres: { url: "\${DATABASE_URL}", query: "select * from ${schema}.peer_${rows}" }\nkey: [id]\n` +
        `sink:\n  postgres: { url: "\${DATABASE_URL}", table: ${schema}.ml_scores_${rows} }\n`,
    );
    // Each run: a new partition (both tables dropped), then replacing it; the medians count.
    const times = { new: { py: [], ml: [] }, replace: { py: [], ml: [] } };
    for (let i = 0; i < opt.runs; i++) {
      await db.query(`DROP TABLE IF EXISTS ${schema}.py_scores_${rows}, ${schema}.ml_scores_${rows} CASCADE`);
      for (const phase of ['new', 'replace']) {
        log(`bench: Python peer ${rows} rows, ${phase} partition (run ${i + 1} of ${opt.runs})`);
        const py = timed(python, [
          path.join(root, 'scripts/peer/python_peer.py'),
          'score',
          opt.url,
          `${schema}.peer_${rows}`,
          `${schema}.py_scores_${rows}`,
          '2024-01-01',
          `${forestJson}.pkl`,
        ]);
        log(`bench: mlscale ${rows} rows, ${phase} partition (run ${i + 1} of ${opt.runs})`);
        const ml = await cli(job, N_CPUS);
        times[phase].py.push({ ms: py.wallMs, rss: JSON.parse(py.stdout.trim().split('\n').pop()).peak_rss_mb });
        times[phase].ml.push({ ms: ml.wallMs, rss: ml.peakRssMb, first: ml.timings.start_ms });
      }
    }
    for (const phase of ['new', 'replace']) {
      const py = medianBy(times[phase].py, (x) => x.ms);
      const ml = medianBy(times[phase].ml, (x) => x.ms);
      out.python[`${rows}_${phase}_ms`] = Math.round(py.ms);
      out.python[`${rows}_${phase}_runs_ms`] = times[phase].py.map((x) => Math.round(x.ms));
      out.python[`${rows}_${phase}_peak_rss_mb`] = Math.max(...times[phase].py.map((x) => x.rss));
      out.mlscale[`${rows}_${phase}_ms`] = Math.round(ml.ms);
      out.mlscale[`${rows}_${phase}_runs_ms`] = times[phase].ml.map((x) => Math.round(x.ms));
      out.mlscale[`${rows}_${phase}_peak_rss_mb`] = Math.max(...times[phase].ml.map((x) => x.rss));
      out.mlscale[`${rows}_${phase}_first_chunk_ms`] = medianBy(times[phase].ml, (x) => x.first).first;
      out.ratios[`${rows}_${phase}`] = py.ms / ml.ms;
    }
    // The same forest on both sides: the scores agree to float32 rounding.
    const d = await db.query(
      `SELECT max(abs(m.y - p.score)) AS d FROM ${schema}.ml_scores_${rows} m JOIN ${schema}.py_scores_${rows} p USING (id)`,
    );
    out.max_abs_diff[rows] = Number(d.rows[0].d);
  }
  return out;
}

/** Binary COPY decoding alone, on the bytes of the peer's table as the server sends them. */
async function copyDecodeRate(db, schema, rows) {
  const chunks = [];
  const stream = db.query(copyTo(`COPY (SELECT * FROM ${schema}.peer_${rows}) TO STDOUT WITH (FORMAT binary)`));
  for await (const c of stream) chunks.push(c);
  const columns = [{ name: 'id', oid: 20 }, ...Array.from({ length: 30 }, (_, i) => ({ name: `f${i}`, oid: 700 }))];
  let best = Infinity;
  for (let k = 0; k < 5; k++) {
    const d = new PgBinaryDecoder(columns, opt.batchSize);
    const { ms } = await time(async () => {
      for (const c of chunks) d.push(c);
      d.end();
    });
    best = Math.min(best, ms);
  }
  return ((rows * columns.length) / best) * 1000;
}

async function main() {
  const F = opt.features;
  const N = opt.parallelism;
  const dir = ensureData(opt.rows, F);
  const models = ensureModels(F);
  const out = path.join(dataRoot, 'out');
  // A bench's Parquet runs write into new partitions, as its Postgres runs do: not over the last bench's.
  rmSync(out, { recursive: true, force: true });
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
    cpus: N_CPUS,
    batch_size: opt.batchSize,
    ceilings: {},
    stages: {},
    limits: {},
    server_cpu_ms: {},
    e2e: {},
    e2e_runs_ms: {},
    first_chunk_ms: {},
    cpu_ms: {},
    cpu_cores: {},
    naive: {},
    python_peer: undefined,
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
        const name = `bench_${m}_${sinkKind}`;
        const key = `${m}_${sinkKind}`;
        // A table per run: each run measures a first write into a new partition.
        const job = (tag) =>
          jobFile(
            `${name}_${tag}`,
            models[m],
            dir,
            sinkKind === 'postgres'
              ? { postgres: `${schema}.${m}_scores_${tag}` }
              : { parquet: path.join(out, `${name}_${tag}`) },
            F,
          );
        log(`bench: stages alone ${m} → ${sinkKind} (${opt.runs} runs)`);
        // Each run's output goes once it is measured: 1M rows a run, several runs a job.
        const dropOutput = async (tag) => {
          if (sinkKind === 'postgres') await db.query(`DROP TABLE IF EXISTS ${schema}.${m}_scores_${tag} CASCADE`);
          else rmSync(path.join(out, `${name}_${tag}`), { recursive: true, force: true });
        };
        // The serial run whose limit is the median of the runs'.
        const serials = [];
        for (let i = 0; i < opt.runs; i++) {
          let run = { serial: undefined, serverMs: 0, serverUsedMs: 0, server: undefined };
          if (sinkKind === 'postgres') {
            const measured = await serialWithServer(db, job(`serial${i}`));
            run = {
              serial: measured.serial,
              serverMs: measured.serverUncountedMs,
              serverUsedMs: measured.serverUsedMs ?? 0,
              server: { used: measured.serverUsedMs, uncounted: measured.serverUncountedMs },
            };
            if (measured.serverUsedMs === null && i === 0)
              log(
                'bench: the PostgreSQL server runs elsewhere (its processes are not visible): its work is left out of the limit',
              );
          } else run.serial = await serialRun(job(`serial${i}`));
          serials.push({ ...run, limit: cpuLimitOf(run.serial, N_CPUS, run.serverUsedMs) });
          await dropOutput(`serial${i}`);
        }
        const { serial, serverMs, server, limit } = medianBy(serials, (x) => x.limit.ms);
        if (server) r.server_cpu_ms[key] = server;
        r.stages[key] = stageRates(serial);
        const stageLimit = limitOf(serial, N_CPUS, serverMs);
        const clientLimit = limitOf(serial, N_CPUS);
        r.limits[key] = (serial.rowsRead / limit.ms) * 1000;
        r.limits[`${key}_stages`] = (serial.rowsRead / stageLimit.ms) * 1000;
        r.cpu_ms[`${key}_serial`] = serial.timings.cpu_ms;
        const ps = [...new Set([1, N])];
        log(`bench: end to end ${m} → ${sinkKind} p=${ps.join(', p=')} (${opt.runs} runs each, alternating)`);
        // The parallelisms take turns, the first of each round alternating: run in blocks, the
        // machine's drift between the blocks (3-5% here) decided p2 against p1, whose runs are
        // often the same work (a cheap model never starts a second worker).
        const runsAt = new Map(ps.map((p) => [p, []]));
        for (let i = 0; i < opt.runs; i++) {
          for (const p of i % 2 === 0 ? ps : [...ps].reverse()) {
            // A table (a directory) per run: each measures a first write into a new partition.
            runsAt.get(p).push(await cli(job(`p${p}_${i}`), p));
            await dropOutput(`p${p}_${i}`);
          }
        }
        for (const p of ps) {
          const runs = runsAt.get(p);
          const res = medianBy(runs, (x) => x.durationMs);
          const name = `${key}_p${p}`;
          r.e2e[name] = res.rowsPerSecond;
          r.e2e_runs_ms[name] = runs.map((x) => x.durationMs);
          // The worst of the runs: a memory limit is set by the largest.
          r.peak_rss_mb[name] = Math.max(...runs.map((x) => x.peakRssMb));
          r.first_chunk_ms[name] = medianBy(runs, (x) => x.timings.start_ms).timings.start_ms;
          r.cpu_ms[name] = res.timings.cpu_ms;
          r.cpu_cores[name] = res.timings.cpu_cores;
          if (p === N) {
            r.ratios[`${key}_vs_limit`] = limit.ms / res.durationMs;
            // The limits earlier passes computed, from the stages' time alone, with the server's
            // work and without it, for comparison.
            r.ratios[`${key}_vs_stage_limit`] = stageLimit.ms / res.durationMs;
            if (serverMs > 0) r.ratios[`${key}_vs_stage_limit_without_server`] = clientLimit.ms / res.durationMs;
          }
        }
        if (N > 1) r.ratios[`${key}_p${N}_vs_p1`] = r.e2e[`${key}_p${N}`] / r.e2e[`${key}_p1`];
      }
    }
    if (pgOk) {
      r.python_peer = await pythonPeer(db, schema, opt.peerRows);
      if (r.python_peer) {
        for (const [k, v] of Object.entries(r.python_peer.ratios)) r.ratios[`vs_python_peer_${k}`] = v;
        r.first_chunk_ms.postgres_source = r.python_peer.mlscale[`${opt.peerRows[0]}_new_first_chunk_ms`];
        log('bench: binary COPY decoding');
        r.ceilings.copy_decode_values = await copyDecodeRate(db, schema, opt.peerRows[0]);
      }
    }
    if (pgOk && opt.naiveRows > 0) {
      log(`bench: naive baseline (${opt.naiveRows} rows)`);
      r.naive.mlp_postgres = await naive(models.mlp, opt.naiveRows, F, schema);
    }
    const rssRuns = {};
    for (const rows of opt.rssRows) {
      log(`bench: peak RSS at ${rows} rows (mlp → parquet, p=${N}, ${opt.runs} runs)`);
      const d = ensureData(rows, F);
      const peaks = [];
      for (let i = 0; i < opt.runs; i++) {
        const res = await cli(
          jobFile(`bench_rss_${rows}`, models.mlp, d, { parquet: path.join(out, `rss_${rows}`) }, F),
          N,
        );
        peaks.push(res.peakRssMb);
        rmSync(path.join(out, `rss_${rows}`), { recursive: true, force: true });
      }
      // The largest: what a memory limit must allow.
      byRows[rows] = Math.max(...peaks);
      rssRuns[rows] = peaks;
    }
    r.peak_rss_mb.by_rows = byRows;
    r.peak_rss_mb.by_rows_runs = rssRuns;
  } finally {
    if (pgOk) {
      await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await db.end();
    }
  }
  const ratio = (a, b) => (a && b ? a / b : null);
  Object.assign(r.ratios, {
    trees_parquet_e2e_vs_infer: ratio(r.e2e[`trees_parquet_p${N}`], r.ceilings[`infer_trees_p${N}`]),
    mlp_postgres_e2e_vs_copy: ratio(r.e2e[`mlp_postgres_p${N}`], r.ceilings.copy_write),
    trees_infer_parallel_scaling: ratio(r.ceilings[`infer_trees_p${N}`], r.ceilings.infer_trees_p1),
    postgres_vs_naive: ratio(r.e2e[`mlp_postgres_p${N}`], r.naive.mlp_postgres),
  });
  const rss = Object.values(byRows);
  if (rss.length >= 2) r.ratios.rss_largest_vs_smallest = rss[rss.length - 1] / rss[0];
  if (opt.json) {
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    return;
  }
  const k = (x) => (x === undefined || x === null ? '-' : `${(x / 1000).toFixed(0)}k`);
  const lines = [
    `mlscale bench: ${opt.rows.toLocaleString('en-US')} rows × ${F} float features, batch ${opt.batchSize}, parallelism N=${N}, ${N_CPUS} CPUs`,
    '',
    '| stage | rows/s |',
    '|---|---|',
  ];
  for (const [name, v] of Object.entries(r.ceilings))
    lines.push(
      name === 'copy_decode_values'
        ? `| ceiling: binary COPY decoding | ${(v / 1e6).toFixed(1)}M values/s |`
        : `| ceiling: ${name} | ${k(v)} |`,
    );
  lines.push(
    '',
    '| job | read | tensors | inference | stats | write | of which Parquet thread | CPU, all threads | server CPU not waited for | limit on all cores | from the stages alone |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const [name, st] of Object.entries(r.stages)) {
    const server = r.server_cpu_ms[name];
    lines.push(
      `| ${name} (each stage alone, one thread) | ${k(st.read)} | ${k(st.tensors)} | ${k(st.inference)} | ${k(st.stats)} | ${k(st.write)} | ${k(st.parquet_thread)} | ${r.cpu_ms[`${name}_serial`]} ms | ${server ? `${Math.round(server.uncounted)} ms of ${server.used === null ? '?' : Math.round(server.used)}` : '-'} | ${k(r.limits[name])} | ${k(r.limits[`${name}_stages`])} |`,
    );
  }
  lines.push(
    '',
    `| end to end (median of ${opt.runs}) | rows/s | peak RSS (largest) | first chunk | cores busy | each run |`,
    '|---|---|---|---|---|---|',
  );
  for (const [name, v] of Object.entries(r.e2e))
    lines.push(
      `| ${name} | ${k(v)} | ${r.peak_rss_mb[name]} MB | ${r.first_chunk_ms[name]} ms | ${r.cpu_cores[name] ?? '-'} | ${(r.e2e_runs_ms[name] ?? []).map((ms) => `${(ms / 1000).toFixed(2)} s`).join(', ')} |`,
    );
  for (const [name, v] of Object.entries(r.naive)) lines.push(`| naive baseline: ${name} | ${k(v)} | | | | |`);
  if (r.python_peer) {
    lines.push('', '| Python peer (whole process) | python | mlscale | ratio |', '|---|---|---|---|');
    for (const [name, v] of Object.entries(r.python_peer.ratios))
      lines.push(
        `| ${name} rows | ${(r.python_peer.python[`${name}_ms`] / 1000).toFixed(2)} s | ${(r.python_peer.mlscale[`${name}_ms`] / 1000).toFixed(2)} s | ${v.toFixed(2)} |`,
      );
  }
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
