import path from 'node:path';
import { UsageError } from '../errors.js';
import { connect } from '../pg/connect.js';
import { registerConnectionString } from '../redact.js';
import { findRuns } from './file-ledger.js';
import { listRuns } from './pg-ledger.js';
import { byStartedDesc, matches, type LedgerQuery, type RunRecord } from './record.js';

/** Where a ledger lives: Postgres (--url, default $DATABASE_URL, and --schema) or Parquet output (--dir). */
export interface LedgerLocation {
  url?: string;
  schema: string;
  dir?: string;
}

/** Runs matching `q`, newest first, from whichever ledger `where` names. */
export async function readLedger(where: LedgerLocation, q: LedgerQuery): Promise<RunRecord[]> {
  if (where.dir) {
    return (await findRuns(path.resolve(where.dir)))
      .filter((r) => matches(r, q))
      .sort(byStartedDesc)
      .slice(0, q.limit);
  }
  const url = where.url ?? process.env.DATABASE_URL;
  if (!url) throw new UsageError('no ledger to read; pass --url or set DATABASE_URL (or --dir for Parquet output).');
  registerConnectionString(url);
  const client = await connect(url, 'ledger');
  try {
    return await listRuns(client, where.schema, q);
  } finally {
    await client.end();
  }
}
