import type { Field } from 'apache-arrow';
import type { Job } from '../config/job.js';
import { UsageError } from '../errors.js';
import { loadModel, type LoadedModel } from '../model/load-model.js';
import { createSession } from '../model/session.js';
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
  // Load once here so a model onnxruntime rejects fails before anything is written.
  const session = await createSession(model.runtimeBytes, job.model.path, { providers: job.model.providers, intraOpThreads: 1 });
  await session.release();
  const source = parquetSourceOver(files.schema, files.groups, { batchSize: job.batchSize, columns }, job.source.path);
  const keyFields = job.key.map((k) => files.schema.fields.find((f) => f.name === k)!);
  const warnings = [...io.warnings];
  if (model.zipmaps.length > 0) {
    warnings.push(`model outputs ${model.zipmaps.map((z) => z.output).join(', ')} are ZipMaps; scoring their probability tensors instead (columns per class label).`);
  }
  return { job, model, modelVersion: job.model.version ?? model.sha256.slice(0, 12), source, io, keyFields, featureColumns, warnings };
}
