import { hostname } from 'node:os';
import { open, readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { LockedError } from '../errors.js';

interface Holder {
  pid: number;
  host: string;
  run_id: string;
  since: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * An exclusive lock file (O_EXCL) naming its holder. A lock left by a process that died on this
 * host is taken over; one held by a live process (or another host) means exit 4, or waiting.
 */
export async function acquireLock(
  file: string,
  runId: string,
  what: string,
  wait: boolean,
): Promise<() => Promise<void>> {
  const me: Holder = { pid: process.pid, host: hostname(), run_id: runId, since: new Date().toISOString() };
  for (;;) {
    try {
      const fh = await open(file, 'wx');
      await fh.writeFile(JSON.stringify(me) + '\n');
      await fh.close();
      return async () => {
        await rm(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder: Holder | undefined;
    try {
      holder = JSON.parse(await readFile(file, 'utf8')) as Holder;
    } catch {
      holder = undefined; // being written, or garbage: treat as held for one more look
    }
    if (holder && holder.host === me.host && !alive(holder.pid)) {
      await rm(file, { force: true });
      continue;
    }
    if (!wait) {
      throw new LockedError(
        `sink: ${what} is locked by run ${holder?.run_id ?? '?'} (pid ${holder?.pid ?? '?'} on ${holder?.host ?? '?'}, since ${holder?.since ?? '?'}); wait for it to finish, or pass --wait.`,
      );
    }
    await sleep(500);
  }
}
