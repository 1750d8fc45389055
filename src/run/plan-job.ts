import type { Field } from 'apache-arrow';
import type { Job } from '../config/job.js';
import { UsageError } from '../errors.js';
import { loadModel, type LoadedModel } from '../model/load-model.js';
import { createSession, loadOrt } from '../model/session.js';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { parquetSourceOver, requireColumns, scanParquet } from '../source/parquet.js';
import type { Source } from '../source/source.js';
import { planIo, type IoPlan } from '../tensors/io-plan.js';

/** Everything decided before the first row is read; building it writes nothing. */
export interface JobPlan {
  readonly job: Job;
  readonly model: LoadedModel;
  readonly modelVersion: string;
  readonly source: Source;
  readonly io: IoPlan;
  readonly keyFields: readonly Field[];
  readonly featureColumns: readonly string[];
  readonly warnings: readonly string[];
}

/**
 * Checks the job against its model and source: the model loads in onnxruntime, every input
 * has a column of a type it can take, every key exists. Any mismatch is a UsageError (exit 2).
 */
export async function planJob(job: Job): Promise<JobPlan> {
  const model = await loadModel(job.model.path);
  const files = await scanParquet(job.source.path);
  const io = planIo(job, model, files.schema);
  const featureColumns = [...new Set(io.inputs.flatMap((i) => i.columns))];
  const columns = [...new Set([...job.key, ...featureColumns])];
  requireColumns(files, columns);
  const fill = job.onNull.mode === 'fill' ? job.onNull.value : undefined;
  if (typeof fill === 'string' && Number.isNaN(Number(fill))) {
    const numeric = io.inputs.find((i) => i.type !== 'string');
    if (numeric) {
      throw new UsageError(`on_null.fill: "${fill}" is not a number but model input "${numeric.input}" is ${numeric.type}; use a number (or .nan).`, { code: 'fill_type' });
    }
  }
  const warnings = [...io.warnings];
  // Load once here so a model onnxruntime rejects fails before anything is written.
  const session = await createSession(model.runtimeBytes, job.model.path, { providers: job.model.providers, intraOpThreads: 1 }, (w) => warnings.push(w));
  try {
    await probeUndeclaredWidths(session, model, io);
  } finally {
    await session.release();
  }
  const source = parquetSourceOver(files.schema, files.groups, { batchSize: job.batchSize, columns }, job.source.path);
  const keyFields = job.key.map((k) => files.schema.fields.find((f) => f.name === k)!);
  if (model.zipmaps.length > 0) {
    warnings.push(`model outputs ${model.zipmaps.map((z) => z.output).join(', ')} are ZipMaps; scoring their probability tensors instead (columns per class label).`);
  }
  return { job, model, modelVersion: job.model.version ?? model.sha256.slice(0, 12), source, io, keyFields, featureColumns, warnings };
}

/**
 * A model whose input does not declare its feature count ([?, ?]) would only fail once rows
 * flow. Score one row of zeros with the planned width now, and explain a width mismatch.
 */
async function probeUndeclaredWidths(session: InferenceSession, model: LoadedModel, io: IoPlan): Promise<void> {
  const undeclared = io.inputs.filter((feed) => {
    const shape = model.graph.inputs.find((i) => i.name === feed.input)?.shape;
    return shape?.slice(1).some((d) => typeof d !== 'number');
  });
  if (undeclared.length === 0 || io.rowByRow) return;
  const ort = await loadOrt();
  const feeds: Record<string, Tensor> = {};
  for (const feed of io.inputs) {
    const n = feed.columns.length;
    const dims = feed.rank === 1 ? [1] : [1, n];
    const data =
      feed.type === 'string' ? new Array<string>(n).fill('') : feed.type === 'int64' ? new BigInt64Array(n) : feed.type === 'float64' ? new Float64Array(n) : feed.type === 'int32' ? new Int32Array(n) : feed.type === 'bool' || feed.type === 'uint8' ? new Uint8Array(n) : new Float32Array(n);
    feeds[feed.input] = new ort.Tensor(feed.type, data as Float32Array, dims);
  }
  try {
    await session.run(feeds, [...io.fetch]);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const m = /requests feature (\d+) but input tensor has (\d+) features/i.exec(msg);
    const feed = undeclared[0]!;
    if (m) {
      throw new UsageError(
        `model input "${feed.input}" does not declare its feature count and reads feature ${m[1]}, so it needs at least ${Number(m[1]) + 1} columns, but model.features lists ${m[2]}; list the columns the model was trained on, in order.`,
        { code: 'features_count' },
      );
    }
    throw new UsageError(`model input "${feed.input}" does not declare its feature count, and one row of ${feed.columns.length} columns fails in onnxruntime (${msg.split('\n')[0]}); check model.features against what the model was trained on.`, { code: 'features_count' });
  }
}
