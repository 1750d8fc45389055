import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let cached: Promise<{ ok: boolean; reason: string }> | undefined;

/** Whether a PostgreSQL server answers at DATABASE_URL. */
export function pgStatus(): Promise<{ ok: boolean; reason: string }> {
  cached ??= (async () => {
    const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 3000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('select 1');
      return { ok: true, reason: '' };
    } catch (err) {
      return {
        ok: false,
        reason: `cannot connect to ${databaseUrl.replace(/:[^:@/]*@/, ':***@')} (${(err as Error).message})`,
      };
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return cached;
}

/** True when Postgres tests should be skipped (never in CI, where global setup has already failed). */
export const skipPg = !(await pgStatus()).ok;

export async function query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

/** A fresh schema for one test file; drop() removes it with everything in it. */
export async function tempSchema(prefix: string): Promise<{ name: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  await query(`CREATE SCHEMA ${name}`);
  return { name, drop: async () => void (await query(`DROP SCHEMA IF EXISTS ${name} CASCADE`)) };
}
