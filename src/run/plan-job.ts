import type { Field } from 'apache-arrow';
import type { Tensor } from 'onnxruntime-node';
import type { Job, ModelSpec } from '../config/job.js';
import { UsageError } from '../errors.js';
import { loadModel, type LoadedModel } from '../model/load-model.js';
import { createSession, loadOrt } from '../model/session.js';
import { openSource } from '../source/open-source.js';
import type { Source } from '../source/source.js';
import { columnKind } from '../tensors/column-kind.js';
import type { OutputColumn } from '../output/columns.js';
import { planIo, type IoPlan } from '../tensors/io-plan.js';
import { allocateFeed, type NullPolicy } from '../tensors/to-feeds.js';
import type { Probe } from '../scoring/wire.js';

/** One model of the job, checked against the source. */
export interface ModelPlan {
  readonly spec: ModelSpec;
  readonly model: LoadedModel;
  readonly version: string;
  readonly io: IoPlan;
}

/** Everything decided before the first row is read; building it writes nothing. */
export interface JobPlan {
  readonly job: Job;
  readonly models: readonly ModelPlan[];
  /** The prediction columns the job writes (one model's, or the combined ones). */
  readonly outputs: readonly OutputColumn[];
  /** Model identity recorded for the run: one model's, or every model's joined with '+'. */
  readonly modelName: string;
  readonly modelVersion: string;
  readonly modelSha256: string;
  readonly source: Source;
  readonly keyFields: readonly Field[];
  readonly featureColumns: readonly string[];
  /** on_null for each feature column (on_null_features over on_null). */
  readonly nullPolicy: NullPolicy;
  readonly warnings: readonly string[];
}

/** Loads model `index` in onnxruntime as scoring will, and scores `probe` if given: the planner's check. */
export interface ModelChecker {
  check(index: number, probe?: Probe): Promise<{ readonly warnings: readonly string[]; readonly probeError?: string }>;
}

export interface PlanOptions {
  /**
   * Who checks the models once their files are read. A run passes its scorer pool, whose workers
   * load the sessions they will score with (the main thread never loads onnxruntime); by default,
   * a session on this thread (validate).
   */
  readonly checker?: (models: readonly LoadedModel[]) => ModelChecker;
  /** Start reading the source's first rows while the models are checked, where that is safe (Source.warm). */
  readonly warmSource?: boolean;
}

/**
 * Checks the job against its models and source: each model loads in onnxruntime, every input
 * has a column of a type it can take, every key exists, combined models agree on their
 * prediction columns. Any mismatch is a UsageError (exit 2).
 */
export async function planJob(job: Job, options: PlanOptions = {}): Promise<JobPlan> {
  // The source (a query to probe, footers to read) and the models (files to parse) load together,
  // and onnxruntime starts on the models as soon as they are read.
  const loading = Promise.all(job.models.map((spec) => loadModel(spec.path)));
  const checking = loading.then((m) => (options.checker ?? ((l) => sessionChecker(job, l)))(m));
  checking.catch(() => undefined);
  const [sourceOpened, loaded] = await Promise.allSettled([openSource(job), loading]);
  if (sourceOpened.status === 'rejected') throw sourceOpened.reason;
  if (loaded.status === 'rejected') throw loaded.reason;
  const checker = await checking;
  const opened = sourceOpened.value;
  const schema = opened.schema;
  const warnings: string[] = [];
  const multi = job.models.length > 1 || job.combine.mode !== 'single';
  const prefix = (spec: ModelSpec) => (multi ? `${spec.name}: ` : '');
  const ios = job.models.map((spec, i) => {
    const model = loaded.value[i]!;
    const io = planIo(spec, job.key, model, schema, multi ? `models[${i}]` : 'model');
    warnings.push(...io.warnings.map((w) => prefix(spec) + w));
    if (model.zipmaps.length > 0) {
      warnings.push(
        `${prefix(spec)}model outputs ${model.zipmaps.map((z) => z.output).join(', ')} are ZipMaps; scoring their probability tensors instead (columns per class label).`,
      );
    }
    checkFill(job, io);
    return io;
  });
  const featureColumns = [...new Set(ios.flatMap((io) => io.inputs.flatMap((i) => i.columns)))];
  const unknown = Object.keys(job.onNullFeatures).find((c) => !featureColumns.includes(c));
  if (unknown)
    throw new UsageError(
      `on_null_features: "${unknown}" is not a feature of the model (features: ${featureColumns.join(', ')}); remove it or fix the name.`,
      { code: 'column_missing' },
    );
  const routeBy = job.combine.mode === 'route' ? [job.combine.by] : [];
  if (job.combine.mode === 'route') {
    const field = schema.fields.find((f) => f.name === routeBy[0]);
    if (!field)
      throw new UsageError(
        `route_by: source column "${routeBy[0]}" not found (have: ${schema.fields.map((f) => f.name).join(', ')}); name a column whose value picks the model.`,
        { code: 'column_missing' },
      );
    if (columnKind(field.type) === 'unsupported')
      throw new UsageError(
        `route_by: column "${field.name}" has type ${field.type}; route by a string, integer or boolean column.`,
        { code: 'column_type' },
      );
  }
  const columns = [...new Set([...job.key, ...featureColumns, ...routeBy])];
  // Column names end up as SQL identifiers and JSON keys in the ledger; PostgreSQL stores no NUL in either.
  const nul = columns.find((c) => c.includes('\0'));
  if (nul !== undefined) {
    throw new UsageError(
      `source: column ${JSON.stringify(nul)} has a NUL character in its name, which PostgreSQL cannot store in a column name or the ledger; rename the column in the source (or alias it in the query).`,
      { code: 'column_name' },
    );
  }
  const source = opened.open(columns);
  if (options.warmSource) source.warm?.();
  const models: ModelPlan[] = [];
  let outputs: OutputColumn[];
  try {
    for (const [i, spec] of job.models.entries()) {
      const model = loaded.value[i]!;
      const io = ios[i]!;
      // Checked here so a model onnxruntime rejects fails before anything is written.
      const probe = probeFor(model, io);
      const checked = await checker.check(i, probe);
      warnings.push(...checked.warnings.map((w) => prefix(spec) + w));
      if (probe && checked.probeError !== undefined) throw probeFailure(model, io, checked.probeError);
      models.push({ spec, model, version: spec.version ?? model.sha256.slice(0, 12), io });
    }
    outputs = combinedOutputs(job, models);
  } catch (err) {
    await source.close();
    throw err;
  }
  const keyFields = job.key.map((k) => schema.fields.find((f) => f.name === k)!);
  return {
    job,
    models,
    outputs,
    modelName: models.map((m) => m.spec.name).join('+'),
    modelVersion: models.map((m) => m.version).join('+'),
    modelSha256: models.map((m) => m.model.sha256).join('+'),
    source,
    keyFields,
    featureColumns,
    nullPolicy: (column) => job.onNullFeatures[column] ?? job.onNull,
    warnings,
  };
}

function checkFill(job: Job, io: IoPlan): void {
  for (const input of io.inputs) {
    if (input.type === 'string') continue;
    for (const column of input.columns) {
      const policy = job.onNullFeatures[column] ?? job.onNull;
      const fill = policy.mode === 'fill' ? policy.value : undefined;
      if (typeof fill === 'string' && Number.isNaN(Number(fill))) {
        const key = job.onNullFeatures[column] ? `on_null_features.${column}.fill` : 'on_null.fill';
        throw new UsageError(
          `${key}: "${fill}" is not a number but column "${column}" feeds model input "${input.input}" (${input.type}); use a number (or .nan).`,
          { code: 'fill_type' },
        );
      }
    }
  }
}

/** Combined models must write the same prediction columns; mean and weighted need numbers. */
function combinedOutputs(job: Job, models: readonly ModelPlan[]): OutputColumn[] {
  const first = models[0]!;
  if (models.length === 1) return [...first.io.outputs];
  const names = (m: ModelPlan) => m.io.outputs.map((o) => o.column).join(', ');
  for (const m of models.slice(1)) {
    const same =
      m.io.outputs.length === first.io.outputs.length &&
      m.io.outputs.every((o, i) => o.column === first.io.outputs[i]!.column);
    if (!same) {
      throw new UsageError(
        `models: "${m.spec.name}" writes columns (${names(m)}) but "${first.spec.name}" writes (${names(first)}); map both to the same columns under outputs:.`,
        { code: 'combine_outputs' },
      );
    }
    for (const [i, o] of m.io.outputs.entries()) {
      if (job.combine.mode === 'route' && o.sqlType !== first.io.outputs[i]!.sqlType) {
        throw new UsageError(
          `models: column "${o.column}" is ${o.sqlType} from "${m.spec.name}" but ${first.io.outputs[i]!.sqlType} from "${first.spec.name}"; routed models must agree on types.`,
          { code: 'combine_outputs' },
        );
      }
    }
  }
  if (job.combine.mode === 'mean' || job.combine.mode === 'weighted') {
    const bad = models.flatMap((m) =>
      m.io.outputs
        .filter((o) => o.sqlType !== 'double precision')
        .map((o) => `"${o.column}" of "${m.spec.name}" (${o.sqlType})`),
    );
    if (bad.length > 0) {
      throw new UsageError(
        `combine: ${job.combine.mode} averages numbers, but ${bad.join(', ')} is not a float output; map only probability or score outputs, or use combine: route.`,
        { code: 'combine_outputs' },
      );
    }
  }
  return [...first.io.outputs];
}

/** The planner's check on this thread: a session created and released (validate; no workers). */
function sessionChecker(job: Job, models: readonly LoadedModel[]): ModelChecker {
  return {
    async check(index, probe) {
      const spec = job.models[index]!;
      const warnings: string[] = [];
      const session = await createSession(
        models[index]!.runtimeBytes,
        spec.path,
        { providers: spec.providers, intraOpThreads: 1 },
        (w) => warnings.push(w),
      );
      try {
        if (!probe) return { warnings };
        const ort = await loadOrt();
        const feeds: Record<string, Tensor> = {};
        for (const f of probe.feeds) feeds[f.input] = new ort.Tensor(f.type, f.data as Float32Array, f.dims);
        try {
          await session.run(feeds, [...probe.fetch]);
          return { warnings };
        } catch (err) {
          return { warnings, probeError: err instanceof Error ? err.message : String(err) };
        }
      } finally {
        await session.release();
      }
    },
  };
}

/**
 * A model whose input does not declare its feature count ([?, ?]) would only fail once rows
 * flow: one row of zeros with the planned width is scored now, to explain a width mismatch.
 */
function probeFor(model: LoadedModel, io: IoPlan): Probe | undefined {
  if (!firstUndeclared(model, io) || io.rowByRow) return undefined;
  const feeds = io.inputs.map((feed) => {
    const n = feed.columns.length;
    const data = allocateFeed(feed.type, n);
    if (Array.isArray(data)) data.fill('');
    return { input: feed.input, type: feed.type, dims: feed.rank === 1 ? [1] : [1, n], data };
  });
  return { feeds, fetch: io.fetch };
}

function firstUndeclared(model: LoadedModel, io: IoPlan): IoPlan['inputs'][number] | undefined {
  return io.inputs.find((feed) => {
    const shape = model.graph.inputs.find((i) => i.name === feed.input)?.shape;
    return shape?.slice(1).some((d) => typeof d !== 'number');
  });
}

function probeFailure(model: LoadedModel, io: IoPlan, msg: string): UsageError {
  const undeclared = firstUndeclared(model, io)!;
  const m = /requests feature (\d+) but input tensor has (\d+) features/i.exec(msg);
  if (m) {
    return new UsageError(
      `model input "${undeclared.input}" does not declare its feature count and reads feature ${m[1]}, so it needs at least ${Number(m[1]) + 1} columns, but ${m[2]} are listed; list the columns the model was trained on, in order.`,
      { code: 'features_count' },
    );
  }
  return new UsageError(
    `model input "${undeclared.input}" does not declare its feature count, and one row of ${undeclared.columns.length} columns fails in onnxruntime (${msg.split('\n')[0]}); check the features against what the model was trained on.`,
    { code: 'features_count' },
  );
}
