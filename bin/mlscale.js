#!/usr/bin/env node
// onnxruntime-node keeps a usage-telemetry database unless told not to; set before it loads,
// and inherited by the scoring workers.
process.env.ORT_DISABLE_TELEMETRY ??= '1';

import { readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const { main } = loadBundle(fileURLToPath(new URL('../dist/mlscale.cjs', import.meta.url)));
main(process.argv);

/**
 * Loads the CLI: one bundled file (scripts/bundle.mjs), which loads several times faster than
 * its module graph, compiled with V8's code cache. Compiling the 2 MB bundle and the functions a
 * command runs took 60-90 ms of every start; with the cache V8 reads them compiled.
 *
 * The cache is written beside the bundle when a command ends (so that it holds the functions the
 * command compiled): by a successful score run that finds no such run's cache, or by any command
 * that finds none at all (or one another Node rejects). It is named for the bundle's size and time, so a
 * rebuilt bundle never reads an old one (V8 checks only the source's length). Where dist/ is
 * read-only, the CLI compiles as it would have without.
 */
function loadBundle(file) {
  const dir = path.dirname(file);
  const { size, mtimeMs } = statSync(file);
  const name = (kind) => path.join(dir, `.mlscale-${size}-${Math.trunc(mtimeMs)}-${kind}.v8cache`);
  const score = process.argv[2] === 'score';
  let cachedData;
  let from;
  for (const kind of ['score', 'other']) {
    try {
      cachedData = readFileSync(name(kind));
      from = kind;
      break;
    } catch {
      // Not written yet.
    }
  }
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${readFileSync(file, 'utf8')}\n})`;
  const script = new vm.Script(wrapped, {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
    ...(vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER
      ? { importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER }
      : {}),
  });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dir);
  const usable = cachedData !== undefined && !script.cachedDataRejected;
  process.once('exit', (code) => {
    const kind = score && code === 0 ? 'score' : 'other';
    if (!usable || (kind === 'score' && from !== 'score')) saveCache(script, name(kind));
  });
  return module.exports;
}

function saveCache(script, cacheFile) {
  const dir = path.dirname(cacheFile);
  try {
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    writeFileSync(tmp, script.createCachedData());
    renameSync(tmp, cacheFile);
    // Older bundles' caches, and a command's cache that a score run's replaces.
    for (const f of readdirSync(dir))
      if (/^\.mlscale-.*\.v8cache$/.test(f) && path.join(dir, f) !== cacheFile)
        rmSync(path.join(dir, f), { force: true });
  } catch {
    // A read-only install: every start compiles, as without a cache.
  }
}
