import type { ClientBase } from 'pg';
import { RuntimeFailure } from '../errors.js';

/** How long a run asks for a strong lock, and how often, before it gives up. */
export interface LockPolicy {
  /** Each request's lock_timeout: what an analyst's read may queue behind the request at most. */
  readonly timeoutMs: number;
  readonly attempts: number;
}

const LOCK_NOT_AVAILABLE = '55P03';

/**
 * Runs `step` (statements that want a lock readers could queue behind: ATTACH, DROP, a view's
 * replacement, a comment) inside a savepoint under `lock_timeout`. A request that waits longer is
 * withdrawn, so the queries queued behind it go on; after a pause the step is tried again. The
 * caller's transaction must be open: what it did before the savepoint stays.
 */
export async function underLockTimeout<T>(
  client: ClientBase,
  policy: LockPolicy,
  what: { action: string; relations: readonly string[] },
  step: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    await client.query('SAVEPOINT mlscale_lock');
    await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(policy.timeoutMs))}`);
    try {
      const result = await step();
      await client.query('RELEASE SAVEPOINT mlscale_lock');
      await client.query('SET LOCAL lock_timeout = 0');
      return result;
    } catch (err) {
      if ((err as { code?: string }).code !== LOCK_NOT_AVAILABLE) throw err;
      await client.query('ROLLBACK TO SAVEPOINT mlscale_lock');
      await client.query('SET LOCAL lock_timeout = 0');
      if (attempt >= policy.attempts) throw await lockTimedOut(client, policy, what, err);
      signal?.throwIfAborted();
      // Long enough for the readers queued behind the withdrawn request to run.
      await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** (attempt - 1), 4000)));
      signal?.throwIfAborted();
    }
  }
}

/** One sentence naming the sessions that held the lock, and what to do. */
async function lockTimedOut(
  client: ClientBase,
  policy: LockPolicy,
  what: { action: string; relations: readonly string[] },
  cause: unknown,
): Promise<RuntimeFailure> {
  const res = await client.query(
    `SELECT DISTINCT a.pid, a.usename, a.application_name, a.xact_start, a.state
       FROM pg_locks l JOIN pg_stat_activity a USING (pid)
      WHERE l.granted AND l.pid <> pg_backend_pid() AND l.locktype = 'relation'
        AND l.relation IN (SELECT to_regclass(r) FROM unnest($1::text[]) r)
      ORDER BY a.xact_start NULLS LAST LIMIT 3`,
    [what.relations],
  );
  const holders = res.rows.map(
    (r) =>
      `session ${r.pid} (user ${r.usename}${r.application_name ? `, ${r.application_name}` : ''}, ${r.state}${
        r.xact_start ? ` since ${new Date(r.xact_start as Date).toISOString()}` : ''
      })`,
  );
  const who = holders.length > 0 ? `${holders.join(', ')} held a lock it needs` : 'other sessions held a lock it needs';
  const seconds = policy.timeoutMs / 1000;
  return new RuntimeFailure(
    `sink: cannot ${what.action}: ${who}, through ${policy.attempts} requests of ${seconds} s each (sink.postgres.lock_timeout_s); end that transaction or wait for it, then run again, or raise lock_timeout_s.`,
    { code: 'sink_lock_timeout', cause },
  );
}
