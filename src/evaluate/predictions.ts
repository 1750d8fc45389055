import { DataType, type Schema } from 'apache-arrow';
import type { Job } from '../config/job.js';
import { MlscaleError, UsageError } from '../errors.js';
import { METADATA_NAMES } from '../output/columns.js';
import { LEDGER_TABLE } from '../output/tables.js';
import { relationExists } from '../pg/catalog.js';
import { connect } from '../pg/connect.js';
import { qualified } from '../pg/sql.js';
import { redact } from '../redact.js';
import { parquetSourceOver, scanParquet } from '../source/parquet.js';
import { scanPostgres } from '../source/postgres.js';
import type { Source } from '../source/source.js';
import { keyText } from './labels.js';

/** Where a table or tree of predictions sits: the job's sink, or a challenger's beside it. */
export type PredictionsAt =
  | {
      readonly kind: 'postgres';
      readonly url: string;
      readonly schema: string;
      readonly table: string;
      /** The job whose runs wrote the rows: several jobs may write one table. */
      readonly job: string;
    }
  | { readonly kind: 'parquet'; readonly path: string };

/** One partition's published predictions, column by column. */
export interface Predictions {
  readonly keys: readonly string[];
  /** model_name and model_version of each row, as "name\u0000version". */
  readonly models: readonly string[];
  readonly runIds: ReadonlySet<string>;
  /** Numeric prediction columns; a null score is NaN. */
  readonly columns: ReadonlyMap<string, Float64Array>;
  /** Integer and boolean prediction columns: class labels (0/1), not scores a ranking or a probability metric applies to. */
  readonly classColumns: ReadonlySet<string>;
  /** Prediction columns that are not numbers (text labels), which no metric applies to. */
  readonly skipped: readonly string[];
}

const isNumeric = (t: DataType) => DataType.isFloat(t) || DataType.isInt(t) || DataType.isBool(t);

/** The published predictions of the job's partition (all its shards), read where the sink wrote them. */
export async function readPredictions(job: Job, at: PredictionsAt, signal?: AbortSignal): Promise<Predictions> {
  const source = await openPredictions(job, at);
  const schema = source.schema;
  const predictionFields = schema.fields.filter(
    (f) => !job.key.includes(f.name) && !METADATA_NAMES.includes(f.name as never),
  );
  const numeric = predictionFields.filter((f) => isNumeric(f.type)).map((f) => f.name);
  const keys: string[] = [];
  const models: string[] = [];
  const runIds = new Set<string>();
  const values = new Map(numeric.map((c) => [c, [] as number[]]));
  try {
    for await (const batch of source.batches(signal)) {
      const keyCols = job.key.map((k) => batch.getChild(k)!);
      const name = batch.getChild('model_name')!;
      const version = batch.getChild('model_version')!;
      const run = batch.getChild('run_id')!;
      const cols = numeric.map((c) => [batch.getChild(c)!, values.get(c)!] as const);
      for (let i = 0; i < batch.numRows; i++) {
        keys.push(keyText(keyCols.map((c) => c.get(i))));
        models.push(`${String(name.get(i))}\u0000${String(version.get(i))}`);
        runIds.add(String(run.get(i)));
        for (const [col, out] of cols) {
          const v: unknown = col.get(i);
          out.push(v === null || v === undefined ? NaN : typeof v === 'boolean' ? Number(v) : Number(v));
        }
      }
    }
  } finally {
    await source.close();
  }
  // A table that exists but holds nothing for this partition: as for a missing Parquet directory.
  if (keys.length === 0 && at.kind === 'postgres')
    throw new UsageError(
      `evaluate: table ${at.schema}.${at.table} holds no predictions for partition ${job.partition}; run mlscale score for it first (or check --param ds).`,
      { code: 'predictions_missing' },
    );
  return {
    keys,
    models,
    runIds,
    columns: new Map([...values].map(([c, v]) => [c, Float64Array.from(v)])),
    skipped: predictionFields.filter((f) => !isNumeric(f.type)).map((f) => f.name),
    classColumns: new Set(
      predictionFields.filter((f) => DataType.isInt(f.type) || DataType.isBool(f.type)).map((f) => f.name),
    ),
  };
}

function requireColumns(schema: Schema, job: Job, where: string): void {
  const have = schema.fields.map((f) => f.name);
  const missing = [...job.key, 'model_name', 'model_version', 'run_id'].find((c) => !have.includes(c));
  if (missing)
    throw new UsageError(
      `evaluate: ${where} has no column "${missing}" (have: ${have.join(', ')}); evaluate reads what mlscale score published with this job's key.`,
      { code: 'predictions_column' },
    );
}

async function openPredictions(job: Job, at: PredictionsAt): Promise<Source> {
  if (at.kind === 'parquet') {
    let files;
    try {
      files = await scanParquet(at.path);
    } catch (err) {
      if (err instanceof MlscaleError && err.code === 'source_empty')
        throw new UsageError(
          `evaluate: no published predictions at ${at.path} for partition ${job.partition}; run mlscale score for it first (or check --param ds).`,
          { code: 'predictions_missing', cause: err },
        );
      throw err;
    }
    requireColumns(files.schema, job, at.path);
    return parquetSourceOver(files.schema, files.groups, { batchSize: 65_536 }, at.path);
  }
  const table = qualified(at.schema, at.table);
  const client = await connect(at.url, 'evaluate');
  try {
    if (!(await relationExists(client, table)))
      throw new UsageError(
        `evaluate: table ${at.schema}.${at.table} does not exist in ${redact(at.url)}; run mlscale score for partition ${job.partition} first.`,
        { code: 'predictions_missing' },
      );
  } finally {
    await client.end().catch(() => undefined);
  }
  // The partition's own tables only (LIST partitioning prunes the rest), and of those the rows this
  // job's runs wrote (another job may write the same table and partition value). Values are bound.
  const scanned = await scanPostgres(
    {
      url: at.url,
      query: `SELECT * FROM ${table} WHERE partition = :partition AND run_id IN (SELECT run_id FROM ${qualified(at.schema, LEDGER_TABLE)} WHERE job = :job)`,
    },
    { batchSize: 65_536, params: { partition: job.partition, job: at.job } },
  );
  requireColumns(scanned.schema, job, `${at.schema}.${at.table}`);
  return scanned.open(scanned.schema.fields.map((f) => f.name).filter((n) => n !== 'scored_at'));
}
