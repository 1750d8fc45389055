#!/usr/bin/env node
// onnxruntime-node keeps a usage-telemetry database unless told not to; set before it loads
// (a static import would load it first), and inherited by the scoring workers.
process.env.ORT_DISABLE_TELEMETRY ??= '1';
// One bundled file (scripts/bundle.mjs): it loads several times faster than the module graph.
const { main } = await import('../dist/mlscale.mjs');

main(process.argv);
