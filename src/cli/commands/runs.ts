import { attachQuality, headline } from '../../evaluate/run-quality.js';
import { readQuality } from '../../evaluate/store.js';
import { readLedger, type LedgerLocation } from '../../ledger/read-ledger.js';
import { ledgerTarget } from '../ledger-target.js';
import { parseSince } from '../since.js';

interface RunsFlags extends LedgerLocation {
  job?: string;
  status?: string;
  since?: string;
  limit: number;
  json?: boolean;
}

/** `mlscale runs`: the ledger, newest first, from Postgres or from Parquet output directories. */
export async function runsCommand(flags: RunsFlags): Promise<void> {
  const { where, job } = await ledgerTarget(flags);
  const { runs: bare, looked } = await readLedger(where, {
    ...(job ? { job } : {}),
    ...(flags.status ? { status: flags.status } : {}),
    ...(flags.since ? { since: parseSince(flags.since) } : {}),
    limit: flags.limit,
  });
  const runs = attachQuality(bare, bare.length ? await readQuality(where, job) : []);
  if (flags.json) {
    process.stdout.write(JSON.stringify(runs, null, 2) + '\n');
    return;
  }
  if (runs.length === 0) {
    process.stdout.write(`no runs${job ? ` of job ${job}` : ''} in ${looked}\n`);
    return;
  }
  const header = [
    'run_id',
    'job',
    'partition',
    'status',
    'started_at',
    'rows_read',
    'rows_written',
    'rejected',
    'max_psi',
    'drifted',
    'quality',
    'model',
  ];
  const rows = runs.map((r) => {
    const drift = r.stats?.drift;
    const psis = drift ? [...Object.values(drift.psi.predictions), ...Object.values(drift.psi.features)] : [];
    return [
      r.run_id,
      r.job,
      r.partition,
      r.status,
      r.started_at,
      String(r.rows_read),
      String(r.rows_written),
      String(r.rows_rejected),
      psis.length ? Math.max(...psis).toFixed(3) : '-',
      drift ? drift.drifted.join(',') || '-' : '-',
      headline(r.quality),
      `${r.model_name}@${r.model_version}`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  process.stdout.write([line(header), ...rows.map(line)].join('\n') + '\n');
  const failed = runs.filter((r) => r.status === 'failed' && r.error);
  for (const r of failed.slice(0, 5)) process.stdout.write(`\n${r.run_id} failed: ${r.error}\n`);
}
