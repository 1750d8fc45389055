#!/usr/bin/env node
// onnxruntime-node keeps a usage-telemetry database unless told not to; set before it loads,
// and inherited by the scoring workers.
process.env.ORT_DISABLE_TELEMETRY ??= '1';

import { createHash } from 'node:crypto';
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { Worker } from 'node:worker_threads';

/**
 * Loads the CLI: one bundled file (scripts/bundle.mjs), which loads several times faster than
 * its module graph, compiled with V8's code cache. Compiling the 2 MB bundle and the functions a
 * command runs took 60-90 ms of every start; with the cache V8 reads them compiled.
 *
 * The cache is written beside the bundle when a command ends (so that it holds the functions the
 * command compiled): by a score run that scored, when the cache holds no such run's, or by any
 * command that finds no cache it can use. V8 checks only a cache's format, its flags and the
 * source's length, and reads a damaged one (it crashed the process), so the file starts with
 * the SHA-256 of the bundle it was made from and of its own contents: another build's cache, or
 * a damaged one, is not given to V8 and is written anew. One file per Node version and set of
 * V8 options (a cron job and a scheduler started with other flags keep one each). Where dist/
 * is read-only, the CLI compiles as it would have without.
 */
function loadBundle(file) {
  const dir = path.dirname(file);
  const source = readFileSync(file);
  const options = [process.version, ...process.execArgv, process.env.NODE_OPTIONS ?? ''].join('\0');
  const cacheFile = path.join(dir, `.mlscale-${sha256(Buffer.from(options)).toString('hex').slice(0, 16)}.v8cache`);
  const sourceHash = sha256(source);
  const found = readCache(cacheFile, sourceHash);
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source.toString('utf8')}\n})`;
  const script = new vm.Script(wrapped, {
    filename: file,
    ...(found ? { cachedData: found.data } : {}),
    ...(vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER
      ? { importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER }
      : {}),
  });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dir);
  const usable = found !== undefined && !script.cachedDataRejected;
  process.once('exit', (code) => {
    // `score --help` exits 0 too, having compiled next to nothing.
    const scored = process.argv[2] === 'score' && code === 0 && !process.argv.some((a) => a === '--help' || a === '-h');
    if (!usable || (scored && !found.scored)) saveCache(script, cacheFile, sourceHash, scored);
  });
  return module.exports;
}

const HASH = 32;

function sha256(bytes) {
  return createHash('sha256').update(bytes).digest();
}

/** The cache's bytes, if the file is whole and was made from this bundle; layout: source hash, data hash, scored flag, data. */
function readCache(cacheFile, sourceHash) {
  let bytes;
  try {
    bytes = readFileSync(cacheFile);
  } catch {
    return undefined;
  }
  const data = bytes.subarray(2 * HASH + 1);
  if (bytes.length <= 2 * HASH + 1 || !bytes.subarray(0, HASH).equals(sourceHash)) return undefined;
  if (!bytes.subarray(HASH, 2 * HASH).equals(sha256(data))) return undefined;
  return { data, scored: bytes[2 * HASH] === 1 };
}

function saveCache(script, cacheFile, sourceHash, scored) {
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  try {
    const data = script.createCachedData();
    writeFileSync(tmp, Buffer.concat([sourceHash, sha256(data), Buffer.from([scored ? 1 : 0]), data]));
    renameSync(tmp, cacheFile);
  } catch {
    // A read-only install or a full disk: every start compiles, as without a cache.
    rmSync(tmp, { force: true });
  }
}

/**
 * Starts the Parquet thread (src/parquet-thread.ts) for a score run whose job file names Parquet,
 * before the bundle loads: the thread's own start and parquet-wasm's compiling (0.2-0.25 s) then
 * overlap the bundle's loading on the other core instead of following it, and the source's footers
 * and first row group are read that much sooner. The run adopts it; a job that turns out not to
 * use it ends it. A read of the job that fails here is the CLI's to report.
 */
function startParquetThreadEarly(argv) {
  if (argv[0] !== 'score' || argv.some((a) => a === '--help' || a === '-h')) return;
  const at = argv.findIndex((a) => a === '--job' || a.startsWith('--job='));
  const file = at < 0 ? undefined : argv[at].startsWith('--job=') ? argv[at].slice(6) : argv[at + 1];
  if (!file) return;
  let text;
  try {
    // A regular file only: a pipe (--job /dev/stdin, <(...)) can be read once, and that read is the CLI's.
    if (!statSync(file).isFile()) return;
    text = readFileSync(file, 'utf8');
  } catch {
    return;
  }
  if (!/parquet/i.test(text)) return;
  const worker = new Worker(new URL('../dist/parquet-thread-worker.mjs', import.meta.url));
  worker.unref();
  const early = { worker, ended: false };
  // Until the run adopts it: an error event with no listener would end the process.
  worker.on('error', () => (early.ended = true));
  worker.on('exit', () => (early.ended = true));
  globalThis[Symbol.for('mlscale.parquet-thread')] = early;
}

startParquetThreadEarly(process.argv.slice(2));
// Last: the helpers above are initialised by then.
const { main } = loadBundle(fileURLToPath(new URL('../dist/mlscale.cjs', import.meta.url)));
main(process.argv);
