import { performance } from 'node:perf_hooks';
const t = performance.now();
if (process.argv[2] === 'import') await import(process.argv[3]);
else {
  const { createRequire } = await import('node:module');
  createRequire(import.meta.url)(process.argv[3]);
}
console.log(process.argv[2], process.argv[3].split('/').pop(), (performance.now() - t).toFixed(1));
