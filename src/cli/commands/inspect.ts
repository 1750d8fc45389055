import path from 'node:path';
import { loadModel } from '../../model/load-model.js';
import type { ValueInfo } from '../../model/onnx-graph.js';
import { createSession } from '../../model/session.js';
import { errorMessage } from '../../errors.js';
import type { OutputColumn } from '../../output/columns.js';
import { planOutputs } from '../../tensors/io-plan.js';

function io(v: ValueInfo): string {
  return `${v.name}: ${v.typeText}`;
}

function quoteKey(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : JSON.stringify(name);
}

/** How mlscale will feed the inputs, and the model: block that says so in a job file. */
function feeding(inputs: readonly ValueInfo[]): { how: string[]; block: string[] } {
  const refused = inputs.find((i) => !i.isTensor);
  if (refused)
    return {
      how: [`refused: input "${refused.name}" is ${refused.typeText}, not a tensor; mlscale feeds tensors only`],
      block: [],
    };
  const how: string[] = [];
  const block: string[] = [];
  if (inputs.some((i) => i.shape?.[0] === 1))
    how.push('fixed batch size of 1: scored row by row (slow; re-export with a dynamic batch dimension)');
  const wide = (i: ValueInfo) => i.shape?.length === 2 && i.shape[1] !== 1;
  const width = (i: ValueInfo) => (typeof i.shape?.[1] === 'number' ? (i.shape[1] as number) : undefined);
  const placeholders = (i: ValueInfo) => Array.from({ length: width(i) ?? 2 }, (_, k) => `${i.name}_${k}`).join(', ');
  if (inputs.length === 1 && wide(inputs[0]!)) {
    const i = inputs[0]!;
    how.push(
      `one ${i.typeText} tensor built from model.features, in order${width(i) === undefined ? ' (feature count not declared: checked on one row before scoring)' : ''}`,
    );
    block.push(`  features: [${placeholders(i)}]   # source columns, in order`);
  } else if (inputs.some(wide) || inputs.some((i) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(i.name))) {
    how.push('each input from the source columns listed under model.inputs');
    block.push('  inputs:   # model input: [source columns]');
    for (const i of inputs) block.push(`    ${quoteKey(i.name)}: [${wide(i) ? placeholders(i) : i.name}]`);
  } else {
    how.push(
      `one source column per input, matched by name: ${inputs.map((i) => i.name).join(', ')} (numbers are cast where an input wants strings or int64)`,
    );
  }
  return { how, block };
}

/** `mlscale inspect`: what a model takes and returns, how mlscale will run it, and a ready-to-paste model: block. */
export async function inspectCommand(file: string, flags: { json?: boolean }): Promise<void> {
  const model = await loadModel(path.resolve(file));
  let loads = 'yes';
  try {
    const s = await createSession(model.runtimeBytes, file, { providers: ['cpu'], intraOpThreads: 1 });
    await s.release();
  } catch (err) {
    loads = `no: ${errorMessage(err)}`;
  }
  const warnings: string[] = [];
  let columns: OutputColumn[] = [];
  try {
    columns = planOutputs({}, model, warnings, 'model');
  } catch (err) {
    warnings.push(errorMessage(err));
  }
  const g = model.original;
  const { how, block } = feeding(model.graph.inputs);
  if (flags.json) {
    process.stdout.write(
      JSON.stringify(
        {
          file,
          sha256: model.sha256,
          ...g,
          zipmaps: model.zipmaps,
          scored_outputs: model.graph.outputs,
          columns,
          feeding: how,
          warnings,
          loads,
        },
        null,
        2,
      ) + '\n',
    );
    return;
  }
  const lines = [
    `model      ${file}`,
    `sha256     ${model.sha256} (default version ${model.sha256.slice(0, 12)})`,
    `producer   ${g.producer}, IR ${g.irVersion}`,
    `opsets     ${g.opsets.map((o) => `${o.domain} ${o.version}`).join(', ')}`,
    `ops        ${g.ops.join(', ')}`,
    `loads      ${loads}`,
    'inputs',
    ...g.inputs.map((i) => `  ${io(i)}`),
    'outputs',
    ...g.outputs.map((o) => `  ${io(o)}`),
  ];
  for (const z of model.zipmaps) {
    lines.push(
      `zipmap     ${z.output} is a ZipMap (onnxruntime-node cannot return maps); mlscale removes it and scores its probabilities tensor, one column per class label: ${z.labels.join(', ')}`,
    );
  }
  lines.push(...how.map((h, i) => `${i === 0 ? 'feeding   ' : '          '} ${h}`));
  lines.push(`columns    ${columns.map((c) => `${c.column} (${c.sqlType})`).join(', ') || '(none)'}`);
  for (const w of warnings) lines.push(`note       ${w}`);
  if (Object.keys(g.metadata).length > 0)
    lines.push('metadata', ...Object.entries(g.metadata).map(([k, v]) => `  ${k}: ${v}`));
  if (!how[0]?.startsWith('refused')) {
    lines.push('', 'for a job file:', 'model:', `  path: ${file}`, ...block, '  outputs:');
    for (const c of columns)
      lines.push(`    ${c.column}: { output: ${c.output}${c.index !== undefined ? `, column: ${c.index}` : ''} }`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}
