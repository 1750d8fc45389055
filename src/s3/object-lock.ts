import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { LockedError } from '../errors.js';
import { alive, HEARTBEAT_MS, STALE_MS } from '../sink/lock-file.js';
import type { S3Client } from './client.js';

// A lock as an object, for a store without rename or exclusive create: created by a conditional
// write (If-None-Match: *, which S3 honours since 2024 and MinIO, R2 and Ceph do too), renewed by
// rewriting it (its LastModified is the heartbeat), removed at the end. A store that ignores the
// condition (s3rver, older Ceph) is found out by a second conditional write of the same key, which
// such a store accepts: there the lock is checked by reading it before and after the write, which
// catches a run that started earlier but not two that start within the same moment.

interface Holder {
  pid: number;
  host: string;
  run_id: string;
  since: string;
}

export interface ObjectLockOptions {
  readonly wait: boolean;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  readonly onWarn?: (message: string) => void;
  /** Settles what a dead holder (its run id) left, before its lock is taken over. */
  readonly beforeTakeOver?: (runId: string | undefined) => Promise<void>;
}

/** Stores already found to ignore conditional writes, so the warning is said once per process. */
const unconditional = new Set<string>();

async function readHolder(
  client: S3Client,
  bucket: string,
  key: string,
): Promise<{ holder: Holder | undefined; lastModified: number; etag: string } | undefined> {
  const head = await client.head(bucket, key);
  if (!head) return undefined;
  let holder: Holder | undefined;
  try {
    holder = JSON.parse((await client.getText(bucket, key)) ?? '') as Holder;
  } catch {
    holder = undefined;
  }
  return { holder, lastModified: head.lastModified, etag: head.etag };
}

/** Why a seen lock is stale, or undefined while its holder may live. */
function staleness(seen: { holder: Holder | undefined; lastModified: number }): string | undefined {
  const h = seen.holder;
  if (h && h.host === hostname() && !alive(h.pid)) return `its holder, pid ${h.pid} on this host, is gone`;
  const idle = Date.now() - seen.lastModified;
  if (idle > STALE_MS)
    return `${h ? `run ${h.run_id}` : 'an unreadable lock'} has not renewed it for ${Math.round(idle / 1000)} s`;
  return undefined;
}

/** Whether run `runId` holds the lock object and may still live (what `runs` shows as running). */
export async function objectHeldBy(client: S3Client, bucket: string, key: string, runId: string): Promise<boolean> {
  const seen = await readHolder(client, bucket, key).catch(() => undefined);
  return seen?.holder?.run_id === runId && staleness(seen) === undefined;
}

/** Takes the lock object `key` for run `runId`; returns its release. Locked: exit 4, or waits. */
export async function acquireObjectLock(
  client: S3Client,
  bucket: string,
  key: string,
  runId: string,
  what: string,
  options: ObjectLockOptions,
): Promise<() => Promise<void>> {
  const me: Holder = { pid: process.pid, host: hostname(), run_id: runId, since: new Date().toISOString() };
  const text = JSON.stringify(me) + '\n';
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  let waiting = false;
  for (;;) {
    options.signal?.throwIfAborted();
    const seen = await readHolder(client, bucket, key);
    if (seen && seen.holder?.run_id !== runId) {
      const reason = staleness(seen);
      if (reason) {
        await options.beforeTakeOver?.(seen.holder?.run_id);
        await client.delete(bucket, key);
        options.onWarn?.(`lock: took over ${what}: ${reason}.`);
        continue;
      }
      const h = seen.holder;
      const who = h
        ? `run ${h.run_id} (pid ${h.pid} on ${h.host}, since ${h.since})`
        : `an unreadable lock s3://${bucket}/${key}`;
      if (!options.wait || Date.now() >= deadline)
        throw new LockedError(
          `sink: ${what} is locked by ${who}${options.wait ? ` after waiting ${Math.round((options.timeoutMs ?? 0) / 1000)} s` : ''}; wait for it to finish, or pass --wait${options.wait ? ' with a longer timeout' : ''}.`,
        );
      if (!waiting) options.onWarn?.(`lock: ${what} is locked by ${who}; waiting (--wait).`);
      waiting = true;
      await sleep(
        Math.min(1000, Math.max(1, deadline - Date.now())),
        undefined,
        options.signal ? { signal: options.signal } : {},
      ).catch(() => undefined);
      continue;
    }
    if (!(await client.put(bucket, key, text, { ifNoneMatch: true }))) continue;
    if (!unconditional.has(client.endpoint) && (await client.put(bucket, key, text, { ifNoneMatch: true }))) {
      unconditional.add(client.endpoint);
      options.onWarn?.(
        `lock: the store at ${client.endpoint} ignores conditional writes (If-None-Match), so ${what} is locked by reading the lock before and after writing it: two runs started at the same moment may both go on (their publishes then replace each other whole).`,
      );
    }
    // Read back: on a store that ignores the condition, a run that wrote after us holds it.
    const again = await readHolder(client, bucket, key);
    if (again?.holder?.run_id !== runId) continue;
    return heartbeat(client, bucket, key, text, runId, again.etag, () =>
      options.onWarn?.(
        `lock: ${what} was taken over by another run while this one held it (not renewed for ${STALE_MS / 1000} s).`,
      ),
    );
  }
}

/**
 * Renews the lock every HEARTBEAT_MS by rewriting it if it is still the version we wrote (If-Match):
 * a holder that stalled past STALE_MS and was taken over stops renewing, rather than overwrite the
 * new holder's lock.
 */
function heartbeat(
  client: S3Client,
  bucket: string,
  key: string,
  text: string,
  runId: string,
  etag: string,
  onLost: () => void,
): () => Promise<void> {
  let current = etag;
  const timer = setInterval(() => {
    client
      .putIfMatch(bucket, key, text, current)
      .then((next) => {
        if (next !== false) current = next;
        else {
          clearInterval(timer);
          onLost();
        }
      })
      .catch(() => undefined);
  }, HEARTBEAT_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    // A holder stalled past STALE_MS may have been taken over: never remove another run's lock.
    const seen = await readHolder(client, bucket, key).catch(() => undefined);
    if (seen?.holder?.run_id === runId && seen.holder.pid === process.pid)
      await client.delete(bucket, key).catch(() => undefined);
  };
}
