import { stat } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { connect } from '../pg/connect.js';
import { redact, registerConnectionString } from '../redact.js';
import { heldBy } from '../sink/lock-file.js';
import { findRuns } from './file-ledger.js';
import { ledgerSchemas, listRuns } from './pg-ledger.js';
import { S3Client } from '../s3/client.js';
import type { S3Options } from '../s3/credentials.js';
import { objectHeldBy } from '../s3/object-lock.js';
import { findObjectRuns } from '../s3/object-ledger.js';
import { isS3, parseS3 } from '../s3/s3-url.js';
import { byStartedDesc, matches, type LedgerQuery, type RunRecord } from './record.js';

/**
 * Where a ledger lives: Postgres (`url`, default $DATABASE_URL; `schema`, or every schema that
 * has a ledger) or Parquet output (`dir`).
 */
export interface LedgerLocation {
  url?: string;
  schema?: string;
  dir?: string;
  /** Endpoint, region and addressing when `dir` is an s3:// prefix (from the job's sink). */
  s3?: S3Options;
}

/** Runs matching `q`, newest first, and what was looked at (for "no runs in ..."). */
export async function readLedger(
  where: LedgerLocation,
  q: LedgerQuery,
): Promise<{ runs: RunRecord[]; looked: string }> {
  if (where.dir && isS3(where.dir)) return readObjectLedger(where.dir, where.s3 ?? {}, q);
  if (where.dir) {
    const dir = path.resolve(where.dir);
    if (!(await stat(dir).catch(() => undefined))?.isDirectory())
      throw new UsageError(`--dir: ${dir} is not a directory; point it at the Parquet sink's output.`);
    const runs = (await findRuns(dir, Infinity, heldBy))
      .filter((r) => matches(r, q))
      .sort(byStartedDesc)
      .slice(0, q.limit);
    return { runs, looked: dir };
  }
  const url = where.url ?? process.env.DATABASE_URL;
  if (!url) throw new UsageError('no ledger to read; pass --url or set DATABASE_URL (or --dir for Parquet output).');
  registerConnectionString(url);
  const client = await connect(url, 'ledger');
  try {
    const found = await ledgerSchemas(client);
    const db = redact(url);
    if (where.schema && !found.includes(where.schema)) {
      throw new UsageError(
        `--schema ${where.schema}: no mlscale ledger (mlscale_runs) there in ${db}${found.length ? `; ledgers are in ${found.join(', ')}` : ''}.`,
      );
    }
    if (found.length === 0) {
      throw new UsageError(
        `no mlscale ledger (mlscale_runs) in any schema of ${db}; runs are recorded in the schema of the job's sink table (pass --url for another database, or --dir for Parquet output).`,
      );
    }
    const schemas = where.schema ? [where.schema] : found;
    const runs: RunRecord[] = [];
    for (const schema of schemas) {
      try {
        runs.push(...(await listRuns(client, schema, q)));
      } catch (err) {
        // A schema dropped since it was listed (42P01, 3F000) has no runs to show; anything else is an error.
        if (!['42P01', '3F000'].includes((err as { code?: string }).code ?? '')) throw err;
      }
    }
    return { runs: runs.sort(byStartedDesc).slice(0, q.limit), looked: `${db} (schema ${schemas.join(', ')})` };
  } finally {
    await client.end();
  }
}

/** The file ledger of Parquet output on an object store: records and run files under the prefix. */
async function readObjectLedger(
  dir: string,
  options: S3Options,
  q: LedgerQuery,
): Promise<{ runs: RunRecord[]; looked: string }> {
  const { bucket, key } = parseS3(dir, '--dir');
  const client = await S3Client.create(options);
  let found: RunRecord[];
  try {
    found = await findObjectRuns(client, bucket, key, Infinity, (lock, runId) =>
      objectHeldBy(client, bucket, lock, runId),
    );
  } catch (err) {
    throw client.explain(err, dir);
  }
  const runs = found
    .filter((r) => matches(r, q))
    .sort(byStartedDesc)
    .slice(0, q.limit);
  return { runs, looked: dir };
}
