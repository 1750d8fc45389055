import pg from 'pg';
import { RuntimeFailure } from '../errors.js';
import { redact } from '../redact.js';

/** Opens a client; a refused or failed connection is one sentence with the password hidden. */
export async function connect(url: string, what: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'mlscale' });
  // A dropped connection emits 'error' on the client; without a listener Node would crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    const e = err as NodeJS.ErrnoException & { code?: string };
    throw new RuntimeFailure(
      `${what}: cannot connect to ${redact(url)} (${redact(e.message || e.code || String(err))}); check the URL and that the server is running.`,
      { code: 'pg_connect', cause: err },
    );
  }
  return client;
}
