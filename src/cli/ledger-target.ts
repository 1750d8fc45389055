import { loadJob } from '../config/load-job.js';
import type { LedgerLocation } from '../ledger/read-ledger.js';

/**
 * Which ledger `runs` and `report` read, and which job they filter on: `--job` names a job, or a
 * job file whose sink says where its ledger is (the sink table's schema, or the Parquet sink's
 * root); --url, --schema and --dir say it directly.
 */
export async function ledgerTarget(
  flags: LedgerLocation & { job?: string },
): Promise<{ where: LedgerLocation; job: string | undefined }> {
  const where: LedgerLocation = {
    ...(flags.url !== undefined ? { url: flags.url } : {}),
    ...(flags.schema !== undefined ? { schema: flags.schema } : {}),
    ...(flags.dir !== undefined ? { dir: flags.dir } : {}),
  };
  if (!flags.job || !/\.ya?ml$/i.test(flags.job)) return { where, job: flags.job };
  const job = await loadJob(flags.job);
  const sink = job.sink;
  const fromJob: LedgerLocation =
    sink.kind === 'postgres'
      ? { url: sink.url, schema: sink.schema }
      : { dir: sink.root, ...(sink.s3 ? { s3: sink.s3 } : {}) };
  return { where: { ...fromJob, ...where }, job: job.name };
}
