import type { Schema } from 'apache-arrow';
import type { Job, Shard } from '../config/job.js';
import { UsageError } from '../errors.js';
import { parquetSourceOver, requireColumns, scanParquet, type RowGroupRef } from './parquet.js';
import { scanPostgres } from './postgres.js';
import type { Source } from './source.js';
import { S3Client } from '../s3/client.js';
import { objectFiles } from '../s3/object-files.js';
import { isS3 } from '../s3/s3-url.js';

/** A source whose schema is known and whose rows are not read yet. */
export interface OpenedSource {
  readonly schema: Schema;
  /** The source, reading only `columns`, restricted to this process's shard. */
  open(columns: readonly string[]): Source;
}

/** Row groups for shard `index` of `count`: every count-th group of the sorted files, so the N shards cover each group exactly once. */
export function shardGroups(groups: readonly RowGroupRef[], shard: Shard): RowGroupRef[] {
  return groups.filter((_, k) => k % shard.count === shard.index);
}

/** Checks the job's source (files or query) and reads its schema. */
export async function openSource(job: Job): Promise<OpenedSource> {
  const spec = job.source;
  if (spec.kind === 'parquet') {
    const files = await scanParquet(
      spec.path,
      isS3(spec.path) ? objectFiles(await S3Client.create(spec.s3)) : undefined,
    );
    return {
      schema: files.schema,
      open(columns) {
        requireColumns(files, columns);
        const label = job.shard.count > 1 ? `${spec.path} (shard ${job.shard.index}/${job.shard.count})` : spec.path;
        return parquetSourceOver(
          files.schema,
          shardGroups(files.groups, job.shard),
          { batchSize: job.batchSize, columns },
          label,
          files.access,
        );
      },
    };
  }
  if (job.checkpointRows !== undefined && job.key.length === 0) {
    throw new UsageError(
      'checkpoint_rows: a resumable Postgres source is read in key order, so the job needs key: columns.',
      { code: 'checkpoint_key' },
    );
  }
  if (job.shard.count > 1 && job.key.length === 0) {
    throw new UsageError('--shard: a Postgres source is split by a hash of the key columns; list them under key:.', {
      code: 'shard_key',
    });
  }
  const scanned = await scanPostgres(spec, { batchSize: job.batchSize, params: job.params });
  return {
    schema: scanned.schema,
    open: (columns) =>
      scanned.open(
        columns,
        job.shard.count > 1 ? { ...job.shard, key: job.key } : undefined,
        job.checkpointRows !== undefined ? job.key : undefined,
      ),
  };
}
