import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { listRuns, type LedgerQuery } from '../sink/ledger.js';
import { connect } from '../sink/pg-connect.js';
import type { RunRecord } from '../sink/sink.js';
import { findFiles } from '../source/find-files.js';

/** Where a ledger lives: Postgres (--url, default $DATABASE_URL, and --schema) or Parquet output (--dir). */
export interface LedgerFlags {
  url?: string;
  schema: string;
  dir?: string;
}

/** --since: a date, an ISO time, or a duration back from now (7d, 12h, 30m). */
export function parseSince(text: string, now = Date.now()): Date {
  const m = /^(\d+)([dhm])$/.exec(text.trim());
  if (m) return new Date(now - Number(m[1]) * { d: 86_400_000, h: 3_600_000, m: 60_000 }[m[2] as 'd' | 'h' | 'm']);
  const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
  if (Number.isNaN(t))
    throw new UsageError(
      `--since: "${text}" is not a date, a time or a duration; write 2024-01-31, 2024-01-31T06:00:00Z or 7d.`,
    );
  return new Date(t);
}

async function fromDir(dir: string): Promise<RunRecord[]> {
  const files = await findFiles(path.join(dir, '**', '*'));
  // _mlscale_run.json starts with an underscore, which the data walk skips; look beside the data files.
  const dirs = new Set([dir, ...files.map((f) => path.dirname(f))]);
  const runs: RunRecord[] = [];
  for (const d of dirs) {
    const text = await readFile(path.join(d, '_mlscale_run.json'), 'utf8').catch(() => undefined);
    if (text) runs.push(JSON.parse(text) as RunRecord);
  }
  return runs;
}

/** Runs matching `q`, newest first. */
export async function readLedger(flags: LedgerFlags, q: LedgerQuery & { runId?: string }): Promise<RunRecord[]> {
  if (flags.dir) {
    return (await fromDir(path.resolve(flags.dir)))
      .filter(
        (r) =>
          (!q.runId || r.run_id === q.runId) &&
          (!q.job || r.job === q.job) &&
          (!q.status || r.status === q.status) &&
          (!q.since || Date.parse(r.started_at) >= q.since.getTime()),
      )
      .sort((a, b) => b.started_at.localeCompare(a.started_at))
      .slice(0, q.limit);
  }
  const url = flags.url ?? process.env.DATABASE_URL;
  if (!url) throw new UsageError('no ledger to read; pass --url or set DATABASE_URL (or --dir for Parquet output).');
  const client = await connect(url, 'ledger');
  try {
    return await listRuns(client, flags.schema, q);
  } finally {
    await client.end();
  }
}
