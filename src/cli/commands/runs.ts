import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../../errors.js';
import { findFiles } from '../../source/find-files.js';
import { listRuns } from '../../sink/ledger.js';
import { connect } from '../../sink/pg-connect.js';
import type { RunRecord } from '../../sink/sink.js';

interface RunsFlags {
  job?: string;
  limit: number;
  json?: boolean;
  url?: string;
  schema: string;
  dir?: string;
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
  return runs.filter((r) => !flags.job || r.job === flags.job).sort((a, b) => b.started_at.localeCompare(a.started_at)).slice(0, flags.limit);
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
      runs = await listRuns(client, flags.schema, { ...(flags.job ? { job: flags.job } : {}), limit: flags.limit });
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
  const header = ['run_id', 'job', 'partition', 'status', 'started_at', 'rows_read', 'rows_written', 'model'];
  const rows = runs.map((r) => [r.run_id, r.job, r.partition, r.status, r.started_at, String(r.rows_read), String(r.rows_written), `${r.model_name}@${r.model_version}`]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  process.stdout.write([line(header), ...rows.map(line)].join('\n') + '\n');
  const failed = runs.filter((r) => r.status === 'failed' && r.error);
  for (const r of failed.slice(0, 5)) process.stdout.write(`\n${r.run_id} failed: ${r.error}\n`);
}
