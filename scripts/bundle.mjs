// npm run build, after tsc: bundles the CLI and its two workers (scoring; Parquet decoding and encoding) into one file each.
//
// Node loads an ESM graph module by module; apache-arrow alone is hundreds of files, and the
// CLI's graph took about 0.5 s to import, before any work. One bundled file loads in about 0.1 s
// (the README's performance table). What cannot be bundled stays a package: onnxruntime-node
// (a native addon), parquet-wasm (its .wasm beside it) and pg's optional native driver. The
// bundles sit in dist/, beside version.js, so relative
// paths (../package.json, ./score-worker.js) mean what they mean in the tsc output.
import { build } from 'esbuild';

const external = ['onnxruntime-node', 'parquet-wasm', 'pg-native'];

/**
 * An esbuild plugin that replaces `find` with `replace` in the package file matching `filter`;
 * the build fails if the text is gone (the package changed: look again at what this works around).
 */
function patch(name, filter, find, replace) {
  return {
    name,
    setup(b) {
      b.onLoad({ filter }, async (args) => {
        const { readFile } = await import('node:fs/promises');
        const src = await readFile(args.path, 'utf8');
        if (!src.includes(find))
          throw new Error(`${args.path}: ${JSON.stringify(find)} not found; update scripts/bundle.mjs`);
        return { contents: src.replace(find, replace), loader: 'js' };
      });
    },
  };
}

// pg asks at load whether it runs on Cloudflare Workers; on Node 20 (no navigator) it answers by
// constructing a fetch Response, which loads undici: about 40 ms of every start, in every command.
// mlscale runs on Node only, so the bundle answers no.
const head = 'function isCloudflareRuntime() {';
const notCloudflare = patch('pg-not-cloudflare', /[\\/]pg[\\/]lib[\\/]stream\.js$/, head, `${head}\n  return false;`);

// fdir (tinyglobby's directory walker) requires picomatch from disk when it loads, for its own
// glob(), which tinyglobby never calls (it matches with the picomatch bundled here): a second,
// unbundled picomatch compiled on every run with a Parquet source, 30 ms before the first chunk.
const fdirNoPicomatch = patch(
  'fdir-no-picomatch',
  /[\\/]fdir[\\/]dist[\\/]index\.mjs$/,
  '\t__require.resolve("picomatch");\n\tpm = __require("picomatch");\n',
  '',
);

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  external,
  sourcemap: 'linked',
  plugins: [notCloudflare, fdirNoPicomatch],
  logLevel: 'warning',
};

// The CLI is CommonJS so that bin/mlscale.js can compile it with V8's code cache (vm.Script
// takes cached data; an ES module cannot on Node 20): see src/cli/load-bundle note in bin/mlscale.js.
await build({
  ...common,
  entryPoints: { mlscale: 'dist/cli/main.js' },
  outfile: 'dist/mlscale.cjs',
  format: 'cjs',
  // The sources are ES modules: import.meta.url is this file's URL.
  define: { 'import.meta.url': 'mlscaleModuleUrl' },
  banner: { js: "var mlscaleModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
});

// The workers are started by URL, as ES modules.
await build({
  ...common,
  entryPoints: {
    'score-worker': 'dist/scoring/score-worker.js',
    'parquet-thread-worker': 'dist/parquet-thread-worker.js',
  },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  format: 'esm',
  // Bundled CommonJS packages call require() for Node's own modules.
  banner: {
    js: "import { createRequire as mlscaleRequire } from 'node:module'; const require = mlscaleRequire(import.meta.url);",
  },
});
