import { loadJob } from '../../config/load-job.js';
import { createLogger, type LogFormat } from '../../logger.js';
import { parseParamFlags, parseShard } from '../../config/template.js';
import { planJob } from '../../run/plan-job.js';
import { sinkLayout } from '../../run/sink-layout.js';
import { makeSink } from '../../sink/make-sink.js';
import type { SinkSpec } from '../../config/job.js';
import { MlscaleError } from '../../errors.js';
import { challengerJob } from '../../run/challengers.js';

const describeSink = (s: SinkSpec) => (s.kind === 'postgres' ? `${s.schema}.${s.table}` : s.path);

/**
 * `mlscale validate`: the job (its schedule included), model, source and (existing) destination
 * agree, as `score` with the same parameters and shard would find them; writes nothing.
 */
export async function validateCommand(flags: {
  job: string;
  param: string[];
  shard?: string;
  logFormat?: LogFormat;
}): Promise<void> {
  // Text unless asked: validate is mostly run by hand, and its warnings read as part of its answer.
  const log = createLogger(flags.logFormat ?? 'text', { progress: false });
  const job = await loadJob(flags.job, { params: parseParamFlags(flags.param), shard: parseShard(flags.shard) });
  const plan = await planJob(job);
  const sink = makeSink(job.sink, sinkLayout(plan, 'validate'));
  try {
    await sink.check();
  } finally {
    await sink.close();
  }
  for (const w of plan.warnings) log.warn(w);
  // A challenger is checked as its own run would be: a required one fails validate as it would fail
  // score; any other only warns, as score would only report it.
  const challengers: string[] = [];
  for (const c of job.challengers) {
    try {
      const p = await planJob(challengerJob(job, c));
      challengers.push(`  challenger ${c.model.name} version ${p.models[0]!.version} -> ${describeSink(c.sink)}`);
    } catch (err) {
      if (c.required || !(err instanceof MlscaleError)) throw err;
      log.warn(`challenger ${c.model.name}: ${err.message} It would fail and be reported; the champion is unaffected.`);
      challengers.push(`  challenger ${c.model.name} would fail (see the warning)`);
    }
  }
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
    // Counting a query's rows would run it: the count is known once the run has read them.
    `  source   ${plan.source.description} (${plan.source.totalRows !== undefined ? `${plan.source.totalRows} rows` : 'row count unknown until scored'})`,
    `  sink     ${sink.description}, partition ${job.partition}`,
    ...challengers,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}
