import { StatsCollector } from '/work/main/dist/stats/collector.js';
import { tableFromArrays } from 'apache-arrow';
const cols = {}; for (let f=0;f<30;f++){ const a=new Float32Array(200000); for(let i=0;i<a.length;i++)a[i]=Math.random(); cols[`f${f}`]=a; }
const t = tableFromArrays(cols);
const names = Object.keys(cols);
const batches=[]; for (let i=0;i<200000;i+=8192) batches.push(...t.slice(i, Math.min(i+8192,200000)).batches);
for (let k=0;k<1;k++){ const s=new StatsCollector(); const t0=performance.now(); const c0=process.cpuUsage(); for(const b of batches) s.observeFeatures(b,names); const r=s.result(); const cpu=process.cpuUsage(c0); console.log('observeFeatures 200k x 30:', (performance.now()-t0).toFixed(0),'ms wall', ((cpu.user)/1000).toFixed(0),'ms cpu'); }
