import { hostname } from 'node:os';
import { readdir, readFile, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { createExclusive } from '../exclusive-file.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { LockedError } from '../errors.js';

interface Holder {
  pid: number;
  host: string;
  run_id: string;
  since: string;
}

/** How often a holder touches its lock file, proving it lives (from any host that sees the file). */
export const HEARTBEAT_MS = 5_000;
/** A lock file not touched for this long belongs to a run that is gone: a dead process, a lost pod. */
export const STALE_MS = 60_000;

/** Whether process `pid` lives on this host. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface LockOptions {
  /** Wait for the holder instead of failing (exit 4) at once. */
  readonly wait: boolean;
  /** With wait: give up (exit 4) after this long; undefined waits for as long as it takes. */
  readonly timeoutMs?: number;
  /** With wait: give up at this time (Date.now()) instead, when a longer wait began before this lock. */
  readonly deadline?: number;
  /** An abort ends the wait. */
  readonly signal?: AbortSignal;
  readonly onWarn?: (message: string) => void;
  /** Where the "waiting" notice goes instead of onWarn (a short wait that is no news). */
  readonly onWait?: (message: string) => void;
  /** Settles what a dead holder (its run id, if readable) left, before its lock is taken over. */
  readonly beforeTakeOver?: (runId: string | undefined) => Promise<void>;
}

/**
 * An exclusive lock file naming its holder, kept alive by a heartbeat (its mtime). It appears
 * whole or not at all: written to a private file, then hard-linked into place, which fails if
 * the lock exists. A lock is taken over when its holder is a dead process on this host, or when
 * its heartbeat stopped (another host's run that died, a reused pid, a file that cannot be read);
 * otherwise the run exits 4, or waits.
 */
export async function acquireLock(
  file: string,
  runId: string,
  what: string,
  options: LockOptions,
): Promise<() => Promise<void>> {
  const me: Holder = { pid: process.pid, host: hostname(), run_id: runId, since: new Date().toISOString() };
  const deadline = options.deadline ?? (options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs);
  let waiting = false;
  for (;;) {
    options.signal?.throwIfAborted();
    if (await create(file, me)) {
      await removeDeadTemporaries(file);
      return heartbeat(file, me);
    }
    const seen = await inspect(file);
    if (seen === 'gone') continue;
    const reason = staleness(seen, me.host);
    if (reason) {
      // Before the dead holder's lock goes: a taker that dies while settling leaves the lock (and
      // so the dead run's id) to the next one.
      await options.beforeTakeOver?.(seen.holder?.run_id);
      // Only remove the very file judged stale: another waiter may have replaced it meanwhile.
      const again = await stat(file).catch(() => undefined);
      if (again && again.mtimeMs === seen.mtimeMs && again.ino === seen.ino) {
        await rm(file, { force: true });
        options.onWarn?.(`lock: took over ${what}: ${reason}.`);
      }
      continue;
    }
    const who = describe(seen, file);
    if (!options.wait || Date.now() >= deadline) {
      const waited = options.wait ? ` after waiting ${Math.round((options.timeoutMs ?? 0) / 1000)} s` : '';
      throw new LockedError(
        `sink: ${what} is locked by ${who}${waited}; wait for it to finish, or pass --wait${options.wait ? ' with a longer timeout' : ''}.`,
      );
    }
    if (!waiting) (options.onWait ?? options.onWarn)?.(`lock: ${what} is locked by ${who}; waiting (--wait).`);
    waiting = true;
    await sleep(Math.min(500, Math.max(1, deadline - Date.now())), undefined, {
      ...(options.signal ? { signal: options.signal } : {}),
    }).catch(() => undefined);
  }
}

/** Whether run `runId` holds the lock `file` and may still live (what `runs` shows as running). */
export async function heldBy(file: string, runId: string): Promise<boolean> {
  const seen = await inspect(file);
  if (seen === 'gone' || seen.holder?.run_id !== runId) return false;
  return staleness(seen, hostname()) === undefined;
}

/**
 * Who holds the lock `file` while its holder may live, in words (as a lock wait names it);
 * undefined when the lock is free, or its holder is dead or stopped renewing it.
 */
export async function liveHolder(file: string): Promise<string | undefined> {
  const seen = await inspect(file);
  if (seen === 'gone' || staleness(seen, hostname()) !== undefined) return undefined;
  return describe(seen, file);
}

function describe(seen: Seen, file: string): string {
  const h = seen.holder;
  return h
    ? `run ${h.run_id} (pid ${h.pid} on ${h.host}, since ${h.since})`
    : `an unreadable lock file ${file} (touched ${new Date(seen.mtimeMs).toISOString()})`;
}

const create = (file: string, me: Holder) => createExclusive(file, JSON.stringify(me) + '\n');

/** Private lock files of processes on this host that died between writing and linking them. */
async function removeDeadTemporaries(file: string): Promise<void> {
  const prefix = `${path.basename(file)}.`;
  for (const name of await readdir(path.dirname(file)).catch(() => [] as string[])) {
    const m = name.startsWith(prefix) ? /^(\d+)\.[0-9a-f]+\.tmp$/.exec(name.slice(prefix.length)) : null;
    if (m && !alive(Number(m[1]))) await rm(path.join(path.dirname(file), name), { force: true });
  }
}

interface Seen {
  holder: Holder | undefined;
  mtimeMs: number;
  ino: number;
}

async function inspect(file: string): Promise<Seen | 'gone'> {
  const st = await stat(file).catch(() => undefined);
  if (!st) return 'gone';
  let holder: Holder | undefined;
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<Holder>;
    if (typeof parsed.pid === 'number' && typeof parsed.host === 'string') holder = parsed as Holder;
  } catch {
    holder = undefined; // empty or garbage: written by an older version, or a full disk
  }
  return { holder, mtimeMs: st.mtimeMs, ino: st.ino };
}

/** Why a lock is stale, or undefined while its holder may live. */
function staleness(seen: Seen, host: string): string | undefined {
  const h = seen.holder;
  if (h && h.host === host && !alive(h.pid)) return `its holder, pid ${h.pid} on this host, is gone`;
  const idle = Date.now() - seen.mtimeMs;
  if (idle > STALE_MS) {
    const holder = h ? `run ${h.run_id} (pid ${h.pid} on ${h.host})` : 'an unreadable lock file';
    return `${holder} has not renewed it for ${Math.round(idle / 1000)} s`;
  }
  return undefined;
}

/** Touches the lock while the run lives; the returned function stops it and removes the lock. */
function heartbeat(file: string, me: Holder): () => Promise<void> {
  const timer = setInterval(() => {
    const now = new Date();
    utimes(file, now, now).catch(() => undefined);
  }, HEARTBEAT_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    // A holder stalled past STALE_MS may have been taken over: never remove another run's lock.
    const seen = await inspect(file);
    if (seen !== 'gone' && seen.holder?.pid === me.pid && seen.holder.run_id === me.run_id)
      await rm(file, { force: true });
  };
}
