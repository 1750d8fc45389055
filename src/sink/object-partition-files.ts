import type { Shard } from '../config/job.js';
import { shardTag, SUCCESS_FILE } from './partition-files.js';

// The names in a partition on an object store. Data files carry the run id (an object store
// cannot swap a directory, so a new run's files must not overwrite the live ones); run files and
// _SUCCESS are named as in a local partition (partition-files.ts).

/** What a partition's object is: a data file or run file of one shard, `_SUCCESS`, or not mlscale's. */
export function classifyObject(
  name: string,
): { kind: 'part' | 'run'; shard: Shard } | { kind: 'success' } | { kind: 'other' } {
  if (name === SUCCESS_FILE) return { kind: 'success' };
  const run = /^_mlscale_run(?:-s(\d+)of(\d+))?\.json$/.exec(name);
  const part = /^part-(?:s(\d+)of(\d+)-)?.+-\d{5,}\.parquet$/.exec(name);
  const m = run ?? part;
  if (!m) return { kind: 'other' };
  const shard = m[1] === undefined ? { index: 0, count: 1 } : { index: Number(m[1]), count: Number(m[2]) };
  return { kind: run ? 'run' : 'part', shard };
}

/** The n-th data file of run `runId`: part-RUN-00000.parquet, or part-s1of4-RUN-00000.parquet. */
export function objectPartName(shard: Shard, runId: string, n: number): string {
  const tag = shardTag(shard);
  return `part-${tag ? `${tag}-` : ''}${runId}-${String(n).padStart(5, '0')}.parquet`;
}
