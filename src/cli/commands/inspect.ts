import path from 'node:path';
import { loadModel } from '../../model/load-model.js';
import type { ValueInfo } from '../../model/onnx-graph.js';
import { createSession } from '../../model/session.js';

function io(v: ValueInfo): string {
  return `${v.name}: ${v.typeText}`;
}

/** `mlscale inspect`: what a model takes and returns, and a ready-to-paste model: block. */
export async function inspectCommand(file: string, flags: { json?: boolean }): Promise<void> {
  const model = await loadModel(path.resolve(file));
  let loads = 'yes';
  try {
    const s = await createSession(model.runtimeBytes, file, { providers: ['cpu'], intraOpThreads: 1 });
    await s.release();
  } catch (err) {
    loads = `no: ${(err as Error).message}`;
  }
  const g = model.original;
  if (flags.json) {
    process.stdout.write(JSON.stringify({ file, sha256: model.sha256, ...g, zipmaps: model.zipmaps, scored_outputs: model.graph.outputs, loads }, null, 2) + '\n');
    return;
  }
  const single = model.graph.inputs.length === 1 && model.graph.inputs[0]!.shape?.length === 2 && model.graph.inputs[0]!.shape[1] !== 1;
  const lines = [
    `model     ${file}`,
    `sha256    ${model.sha256} (version ${model.sha256.slice(0, 12)})`,
    `producer  ${g.producer}, IR ${g.irVersion}`,
    `opsets    ${g.opsets.map((o) => `${o.domain} ${o.version}`).join(', ')}`,
    `ops       ${g.ops.join(', ')}`,
    `loads     ${loads}`,
    'inputs',
    ...g.inputs.map((i) => `  ${io(i)}`),
    'outputs',
    ...g.outputs.map((o) => `  ${io(o)}`),
  ];
  for (const z of model.zipmaps) {
    lines.push(`zipmap    ${z.output} is a ZipMap; mlscale scores its probabilities tensor instead (labels: ${z.labels.join(', ')})`);
  }
  if (Object.keys(g.metadata).length > 0) lines.push('metadata', ...Object.entries(g.metadata).map(([k, v]) => `  ${k}: ${v}`));
  lines.push('', 'job file block:', 'model:', `  path: ${file}`);
  if (single) {
    const w = model.graph.inputs[0]!.shape![1];
    lines.push(`  features: [${typeof w === 'number' ? Array.from({ length: w }, (_, i) => `feature_${i}`).join(', ') : 'feature_0, feature_1'}]   # source columns, in order`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}
