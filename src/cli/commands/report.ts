import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RuntimeFailure, UsageError } from '../../errors.js';
import { readQuality } from '../../evaluate/store.js';
import { renderReport } from '../../report/render-report.js';
import { reportBaseline } from '../../report/report-baseline.js';
import { readLedger, type LedgerLocation } from '../../ledger/read-ledger.js';
import { partitionTrend } from '../../ledger/baseline.js';
import { ledgerTarget } from '../ledger-target.js';

interface ReportFlags extends LedgerLocation {
  job?: string;
  out?: string;
  last: number;
}

/** `mlscale report RUN_ID | --job NAME|FILE`: one self-contained HTML page about a run. */
export async function reportCommand(runId: string | undefined, flags: ReportFlags): Promise<void> {
  if (!runId && !flags.job)
    throw new UsageError('report: name a run id, or --job NAME (or a job file) for its newest run.');
  const { where, job } = await ledgerTarget(flags);
  const newest = await readLedger(where, { ...(runId ? { runId } : { job: job! }), limit: 1 });
  const run = newest.runs[0];
  if (!run)
    throw new UsageError(
      runId
        ? `report: run ${runId} is not in the ledger (looked in ${newest.looked}); list runs with mlscale runs.`
        : `report: job ${job} has no runs in ${newest.looked}.`,
    );
  // Enough runs for `last` partitions of a sharded job, re-runs included.
  const history = (await readLedger(where, { job: run.job, limit: Math.max(flags.last, 2) * 16 })).runs;
  const trend = partitionTrend(history, run, flags.last);
  const baseline = await reportBaseline(
    run,
    history,
    async (runId) => (await readLedger(where, { runId, limit: 1 })).runs[0],
  );
  const quality = await readQuality(where, run.job);
  const html = renderReport({ run, baseline, trend, quality });
  if (flags.out) {
    await writeReport(flags.out, html);
    process.stdout.write(`${flags.out}\n`);
  } else process.stdout.write(html);
}

/** Writes the page to --out; a path that cannot be written is a usage error (exit 2) naming it and the fix. */
async function writeReport(out: string, html: string): Promise<void> {
  try {
    await writeFile(out, html);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reasons: Record<string, string> = {
      ENOENT: `the directory ${path.dirname(out)} does not exist; create it, or pass --out a file in an existing directory`,
      EISDIR: `it is a directory; pass --out a file name, such as ${path.join(out, 'report.html')}`,
      ENOTDIR: `a part of ${path.dirname(out)} is a file, not a directory; pass --out a file in an existing directory`,
      EACCES: `permission denied; pass --out a file in a directory you can write`,
      EPERM: `permission denied; pass --out a file in a directory you can write`,
      EROFS: `the file system is read-only; pass --out a file on a writable one`,
      ENAMETOOLONG: `the name is too long; pass --out a shorter path`,
    };
    const reason = code !== undefined ? reasons[code] : undefined;
    if (reason) throw new UsageError(`report: cannot write ${out}: ${reason}.`, { code: 'report_out', cause: err });
    throw new RuntimeFailure(`report: cannot write ${out} (${(err as Error).message}).`, {
      code: 'report_out',
      cause: err,
    });
  }
}
