import { loadJob } from '../../config/load-job.js';
import { parseParamFlags } from '../../config/template.js';
import { planJob } from '../../run/plan-job.js';
import { sinkLayout } from '../../run/sink-layout.js';
import { makeSink } from '../../sink/make-sink.js';

/** `mlscale validate`: the job, model, source and (existing) destination agree; writes nothing. */
export async function validateCommand(flags: { job: string; param: string[] }): Promise<void> {
  const job = await loadJob(flags.job, { params: parseParamFlags(flags.param) });
  const plan = await planJob(job);
  const sink = makeSink(job.sink, sinkLayout(plan, 'validate'));
  try {
    await sink.check();
  } finally {
    await sink.close();
  }
  for (const w of plan.warnings) process.stderr.write(`warn: ${w}\n`);
  const lines = [
    `job ${job.name} is valid`,
    ...plan.models.flatMap((m) => [
      `  model    ${m.spec.path} (${m.spec.name} version ${m.version})`,
      `  inputs   ${m.io.inputs.map((i) => `${i.input} <- ${i.columns.join(', ')} (${i.type})`).join('; ')}`,
      `  outputs  ${m.io.outputs.map((o) => `${o.column} <- ${o.output}${o.index !== undefined ? `[${o.index}]` : ''} (${o.sqlType})`).join('; ')}`,
    ]),
    ...(job.combine.mode !== 'single'
      ? [`  combine  ${job.combine.mode}${job.combine.mode === 'route' ? ` by ${job.combine.by}` : ''}`]
      : []),
    `  source   ${plan.source.description} (${plan.source.totalRows ?? '?'} rows)`,
    `  sink     ${sink.description}, partition ${job.partition}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}
