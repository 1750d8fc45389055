import { LEDGER_DIR, RUN_FILE_PATTERN } from '../ledger/file-ledger.js';
import { normalizeRun, type RunRecord } from '../ledger/record.js';
import type { S3Client } from './client.js';

// The file ledger (src/ledger/file-ledger.ts) kept in an object store: every run's record at
// `<root>/_mlscale/runs/<run_id>.json`, and each published partition's run files (which, there,
// also list the partition's files: they are its manifest). Objects are written whole by one PUT,
// so a reader sees a record whole or not at all.

/** `a/b` + `c` → `a/b/c`; an empty prefix is the bucket's top. */
export const joinKey = (...parts: string[]) => parts.filter((p) => p !== '').join('/');

export const recordKey = (rootKey: string, runId: string) => joinKey(rootKey, LEDGER_DIR, 'runs', `${runId}.json`);

/** A record as stored: while it runs, the key of the lock it holds (so `runs` tells live from dead). */
export const serializeRecord = (run: RunRecord, lock?: string, files?: readonly string[]) =>
  JSON.stringify(
    {
      ...run,
      ...(lock !== undefined && run.status === 'running' ? { lock } : {}),
      ...(files ? { files } : {}),
    },
    null,
    2,
  ) + '\n';

export interface StoredRecord {
  readonly run: RunRecord;
  readonly lock: string | undefined;
  /** A partition's run file: the names of the data files it published. */
  readonly files: readonly string[] | undefined;
}

export async function readObjectRecord(
  client: S3Client,
  bucket: string,
  key: string,
): Promise<StoredRecord | undefined> {
  const text = await client.getText(bucket, key);
  if (text === undefined) return undefined;
  try {
    const raw = JSON.parse(text) as Record<string, unknown>;
    return {
      run: normalizeRun(raw),
      lock: typeof raw.lock === 'string' ? raw.lock : undefined,
      files: Array.isArray(raw.files) ? raw.files.filter((f): f is string => typeof f === 'string') : undefined,
    };
  } catch {
    return undefined;
  }
}

/** Records a starting run; false when a run with that id is recorded already. */
export async function createObjectRecord(
  client: S3Client,
  bucket: string,
  rootKey: string,
  run: RunRecord,
  lock: string,
): Promise<boolean> {
  const key = recordKey(rootKey, run.run_id);
  // Checked first too: a store that ignores If-None-Match would overwrite another run's record.
  if (await client.head(bucket, key)) return false;
  return client.put(bucket, key, serializeRecord(run, lock), { ifNoneMatch: true });
}

export async function replaceObjectRecord(
  client: S3Client,
  bucket: string,
  rootKey: string,
  run: RunRecord,
): Promise<void> {
  await client.put(bucket, recordKey(rootKey, run.run_id), serializeRecord(run));
}

/**
 * Every run recorded under `prefix` (within `depth` levels of it): ledger records and published
 * run files, a run found in both returned as its partition shows it (see findRuns). With
 * `lives`, a record still `running` whose lock its run no longer holds reads `abandoned`.
 */
export async function findObjectRuns(
  client: S3Client,
  bucket: string,
  prefix: string,
  depth = Infinity,
  lives?: (lockKey: string, runId: string) => Promise<boolean>,
): Promise<RunRecord[]> {
  const base = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  const published = new Map<string, RunRecord>();
  const ledger = new Map<string, RunRecord>();
  const wanted: { key: string; inLedger: boolean }[] = [];
  for (const o of await client.list(bucket, base)) {
    const parts = o.key.slice(base.length).split('/');
    const name = parts.pop()!;
    const inLedger = parts.length >= 2 && parts[parts.length - 2] === LEDGER_DIR && parts[parts.length - 1] === 'runs';
    const dirs = inLedger ? parts.slice(0, -2) : parts;
    if (dirs.length > depth || dirs.some((d) => d.startsWith('.') || d.startsWith('_'))) continue;
    if (inLedger ? name.endsWith('.json') && !name.startsWith('.') : RUN_FILE_PATTERN.test(name))
      wanted.push({ key: o.key, inLedger });
  }
  // Read 16 at a time: a ledger of thousands of runs is thousands of GETs.
  for (let at = 0; at < wanted.length; at += 16) {
    const batch = wanted.slice(at, at + 16);
    const found = await Promise.all(batch.map((w) => readObjectRecord(client, bucket, w.key)));
    for (const [i, record] of found.entries()) {
      if (!record) continue;
      const { run, lock } = record;
      if (!batch[i]!.inLedger) {
        published.set(run.run_id, run);
        continue;
      }
      if (run.status === 'running' && lives && !(lock !== undefined && (await lives(lock, run.run_id))))
        run.status = 'abandoned';
      ledger.set(run.run_id, run);
    }
  }
  for (const [id, run] of ledger) if (!published.has(id)) published.set(id, run);
  return [...published.values()];
}
