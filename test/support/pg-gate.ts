import pg from 'pg';
import { databaseUrl, query } from './pg.js';
import { waitFor } from './wait.js';

/**
 * Backends waiting, not granted, for the session advisory lock on hashtextextended(key, 0) (the
 * form mlscale's partition lock uses): pg_locks splits the 64-bit key into classid (high 32 bits)
 * and objid (low 32 bits), with objsubid 1.
 */
export async function advisoryWaiters(key: string): Promise<{ pid: number; application_name: string }[]> {
  return query<{ pid: number; application_name: string }>(
    `WITH k AS (SELECT hashtextextended($1, 0) AS h)
     SELECT l.pid, a.application_name
       FROM pg_locks l JOIN pg_stat_activity a USING (pid), k
      WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objsubid = 1
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid::bigint = (k.h >> 32) & 4294967295 AND l.objid::bigint = k.h & 4294967295
      ORDER BY l.pid`,
    [key],
  );
}

/** Waits until none of these backends is left (a killed client's backends end on their own). */
export async function backendsGone(pids: readonly number[], what: string): Promise<void> {
  await waitFor(
    what,
    async () => (await query(`SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1)`, [pids])).length === 0,
  );
}

/**
 * A barrier inside PostgreSQL. `call` is an SQL expression (a function in the test's schema that
 * returns true) which waits while the test holds the gate; put it in a source query, or in a
 * trigger, and a child process is known to be at that step when its backend shows up waiting in
 * pg_locks. No timing, no mocks: the real binary, held by the real server.
 */
export class PgGate {
  /** Call this in SQL: `(id <> 1000 OR ${gate.call})` waits at row 1000. */
  readonly call: string;
  /** A trigger function that passes the gate, for BEFORE ... FOR EACH ROW triggers. */
  readonly trigger: string;
  private readonly key: string;
  private holder: pg.Client | undefined;

  private constructor(schema: string) {
    this.key = `mlscale-test-gate:${schema}`;
    this.call = `${schema}.test_gate()`;
    this.trigger = `${schema}.test_gate_trigger()`;
  }

  static async create(schema: string): Promise<PgGate> {
    const gate = new PgGate(schema);
    const k = `hashtextextended('${gate.key}', 0)`;
    // The shared lock is taken and dropped at once: every caller passes while the gate is open.
    await query(`CREATE FUNCTION ${gate.call} RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
      BEGIN PERFORM pg_advisory_lock_shared(${k}); PERFORM pg_advisory_unlock_shared(${k}); RETURN true; END $$`);
    await query(`CREATE FUNCTION ${gate.trigger} RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM ${gate.call}; RETURN NEW; END $$`);
    return gate;
  }

  private async client(): Promise<pg.Client> {
    if (!this.holder) {
      this.holder = new pg.Client({ connectionString: databaseUrl, application_name: 'mlscale-test-gate' });
      this.holder.on('error', () => undefined);
      await this.holder.connect();
    }
    return this.holder;
  }

  /** Callers wait at the gate from now on. */
  async close(): Promise<void> {
    await (await this.client()).query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [this.key]);
  }

  /** Everyone passes from now on (however many times the gate was closed: the holder holds nothing else). */
  async open(): Promise<void> {
    await (await this.client()).query('SELECT pg_advisory_unlock_all()');
  }

  /**
   * Lets the callers waiting now through and closes the gate again behind them, in one statement:
   * releasing grants their queued shared locks first, and the exclusive request made right after
   * queues behind them, so no caller that arrives later can slip through.
   */
  async passWaiting(): Promise<void> {
    await (
      await this.client()
    ).query('SELECT pg_advisory_unlock(hashtextextended($1, 0)), pg_advisory_lock(hashtextextended($1, 0))', [
      this.key,
    ]);
  }

  /** The backends waiting at the gate now. */
  async waiting(): Promise<number[]> {
    return (await advisoryWaiters(this.key)).map((w) => w.pid);
  }

  /** Waits until a backend other than `except` waits at the gate, and returns its pid. */
  async waitForCaller(what: string, except: readonly number[] = []): Promise<number> {
    return waitFor(`${what} to wait at the gate`, async () =>
      (await this.waiting()).find((pid) => !except.includes(pid)),
    );
  }

  async end(): Promise<void> {
    await this.holder?.end().catch(() => undefined);
    this.holder = undefined;
  }
}
