#!/usr/bin/env node
// onnxruntime-node keeps a usage-telemetry database unless told not to; set before it loads
// (a static import would load it first), and inherited by the scoring workers.
process.env.ORT_DISABLE_TELEMETRY ??= '1';
const { main } = await import('../dist/cli/main.js');

main(process.argv);
