import type { ClientBase } from 'pg';

/** Whether a table or view of this (quoted, qualified) name exists; to_regclass takes no lock. */
export async function relationExists(client: ClientBase, name: string): Promise<boolean> {
  const res = await client.query('SELECT to_regclass($1) AS t', [name]);
  return Boolean(res.rows[0]?.t);
}
