import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { RunFingerprint } from '../ledger/record.js';
import type { JobPlan } from './plan-job.js';

const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

/** What this planned run scores with, recorded with each checkpoint. */
export function fingerprintOf(plan: JobPlan): RunFingerprint {
  const params = Object.entries(plan.job.params).sort(([a], [b]) => a.localeCompare(b));
  let job: string;
  try {
    job = sha256(readFileSync(plan.job.file));
  } catch {
    job = sha256(plan.job.file); // a job given inline has no file to read
  }
  return { model: plan.modelSha256, params: sha256(JSON.stringify(params)), job, source: sha256(plan.source.identity) };
}

const WHAT: Record<keyof RunFingerprint, string> = {
  model: 'the model file',
  params: 'the parameters',
  job: 'the job file',
  source: 'the source (its files or query)',
};

/** What differs between a checkpointed run and this one, in words; empty when nothing does. */
export function fingerprintChanges(saved: RunFingerprint | undefined, now: RunFingerprint): string[] {
  if (!saved) return [];
  return (Object.keys(WHAT) as (keyof RunFingerprint)[]).filter((k) => saved[k] !== now[k]).map((k) => WHAT[k]);
}
