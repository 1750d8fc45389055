import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../../errors.js';
import { findFiles } from '../../source/find-files.js';
import { listRuns } from '../../sink/ledger.js';
import { connect } from '../../sink/pg-connect.js';
import type { RunRecord } from '../../sink/sink.js';

interface RunsFlags {
  job?: string;
  status?: string;
  since?: string;
  limit: number;
  json?: boolean;
  url?: string;
  schema: string;
  dir?: string;
}

/** --since: a date, an ISO time, or a duration back from now (7d, 12h, 30m). */
export function parseSince(text: string, now = Date.now()): Date {
  const m = /^(\d+)([dhm])$/.exec(text.trim());
  if (m) return new Date(now - Number(m[1]) * { d: 86_400_000, h: 3_600_000, m: 60_000 }[m[2] as 'd' | 'h' | 'm']);
  const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
  if (Number.isNaN(t)) throw new UsageError(`--since: "${text}" is not a date, a time or a duration; write 2024-01-31, 2024-01-31T06:00:00Z or 7d.`);
  return new Date(t);
}

async function fromDir(dir: string, flags: RunsFlags): Promise<RunRecord[]> {
  const files = await findFiles(path.join(dir, '**', '*'));
  // _mlscale_run.json starts with an underscore, which directory listing skips for data; look for it explicitly.
  const dirs = new Set([dir, ...files.map((f) => path.dirname(f))]);
  const runs: RunRecord[] = [];
  for (const d of dirs) {
    try {
      runs.push(JSON.parse(await readFile(path.join(d, '_mlscale_run.json'), 'utf8')) as RunRecord);
    } catch {
      // not a published partition
    }
  }
  const since = flags.since ? parseSince(flags.since) : undefined;
  return runs
    .filter((r) => (!flags.job || r.job === flags.job) && (!flags.status || r.status === flags.status) && (!since || Date.parse(r.started_at) >= since.getTime()))
    .sort((a, b) => b.started_at.localeCompare(a.started_at))
    .slice(0, flags.limit);
}

/** `mlscale runs`: the ledger, newest first, from Postgres or from Parquet output directories. */
export async function runsCommand(flags: RunsFlags): Promise<void> {
  let runs: RunRecord[];
  if (flags.dir) runs = await fromDir(path.resolve(flags.dir), flags);
  else {
    const url = flags.url ?? process.env.DATABASE_URL;
    if (!url) throw new UsageError('runs: no ledger to read; pass --url or set DATABASE_URL (or --dir for Parquet output).');
    const client = await connect(url, 'runs');
    try {
      runs = await listRuns(client, flags.schema, {
        ...(flags.job ? { job: flags.job } : {}),
        ...(flags.status ? { status: flags.status } : {}),
        ...(flags.since ? { since: parseSince(flags.since) } : {}),
        limit: flags.limit,
      });
    } finally {
      await client.end();
    }
  }
  if (flags.json) {
    process.stdout.write(JSON.stringify(runs, null, 2) + '\n');
    return;
  }
  if (runs.length === 0) {
    process.stdout.write('no runs\n');
    return;
  }
  const header = ['run_id', 'job', 'partition', 'status', 'started_at', 'rows_read', 'rows_written', 'rejected', 'max_psi', 'drifted', 'model'];
  const rows = runs.map((r) => {
    const drift = r.stats?.drift;
    const psis = drift ? [...Object.values(drift.psi.predictions), ...Object.values(drift.psi.features)] : [];
    return [
      r.run_id, r.job, r.partition, r.status, r.started_at, String(r.rows_read), String(r.rows_written), String(r.rows_rejected),
      psis.length ? Math.max(...psis).toFixed(3) : '-', drift ? drift.drifted.join(',') || '-' : '-', `${r.model_name}@${r.model_version}`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  process.stdout.write([line(header), ...rows.map(line)].join('\n') + '\n');
  const failed = runs.filter((r) => r.status === 'failed' && r.error);
  for (const r of failed.slice(0, 5)) process.stdout.write(`\n${r.run_id} failed: ${r.error}\n`);
}
