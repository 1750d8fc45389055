#!/usr/bin/env node
// Makes the demo's inputs reproducibly: a churn-like feature table in Parquet and a logistic
// regression model in ONNX, both from fixed seeds, under demo/ (jobs/demo.yaml reads them).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Table, makeVector, vectorFromArray, Utf8 } from 'apache-arrow';
import { logisticModel, rng } from './lib/onnx-builder.mjs';
import { writeTable } from './lib/parquet-data.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const demo = path.join(root, 'demo');
const rows = Number(process.env.DEMO_ROWS ?? 100_000);
const rand = rng(42);

const customer = new Array(rows);
const tenure = new Float64Array(rows);
const monthly = new Float64Array(rows);
const total = new Float64Array(rows);
for (let i = 0; i < rows; i++) {
  customer[i] = `C${String(i).padStart(7, '0')}`;
  tenure[i] = Math.floor(rand() * 72);
  monthly[i] = Math.round((20 + rand() * 100) * 100) / 100;
  total[i] = Math.round(tenure[i] * monthly[i] * (0.9 + rand() * 0.2) * 100) / 100;
}
const table = new Table({
  customer_id: vectorFromArray(customer, new Utf8()),
  tenure: makeVector(tenure),
  monthly_charges: makeVector(monthly),
  total_charges: makeVector(total),
});
writeTable(path.join(demo, 'data', 'ds=2024-01-01', 'features.parquet'), table, { rowGroupSize: 25_000 });

// Short tenure and high charges churn: weights on (tenure, monthly_charges, total_charges).
mkdirSync(demo, { recursive: true });
writeFileSync(path.join(demo, 'churn.onnx'), logisticModel({ weights: [-0.06, 0.025, -0.0002], bias: 0.2 }));
process.stderr.write(`demo: wrote ${rows} rows to demo/data/ds=2024-01-01/ and demo/churn.onnx\n`);
