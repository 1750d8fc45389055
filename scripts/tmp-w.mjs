import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
const t = performance.now();
const n = Number(process.argv[2] ?? 1);
const code = process.argv[3] ?? '';
await Promise.all(
  Array.from(
    { length: n },
    () =>
      new Promise((res) => {
        const w = new Worker(`const {parentPort}=require('node:worker_threads'); ${code}; parentPort.postMessage(1)`, {
          eval: true,
        });
        w.once('message', () => {
          console.log('ready', (performance.now() - t).toFixed(1));
          w.terminate();
          res();
        });
      }),
  ),
);
const cpu = process.cpuUsage();
console.log('cpu', ((cpu.user + cpu.system) / 1000).toFixed(0), 'wall', performance.now().toFixed(0));
