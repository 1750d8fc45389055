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

/**
 * While `signal` is live, an abort cancels whatever `client` is running (a long source query, a
 * wait for a lock) through a second connection, as psql's Ctrl-C does: ending the socket alone
 * would leave the server working until it next writes to it. Returns the listener's remover.
 */
export function cancelOnAbort(client: pg.Client, url: string, signal: AbortSignal | undefined): () => void {
  if (!signal) return () => undefined;
  const pid = (client as unknown as { processID: number | null }).processID;
  const onAbort = () => {
    void (async () => {
      const other = new pg.Client({ connectionString: url, application_name: 'mlscale-cancel' });
      other.on('error', () => undefined);
      try {
        await other.connect();
        await other.query('SELECT pg_cancel_backend($1)', [pid]);
      } catch {
        // The run is ending anyway; its own connection closes with the process.
      } finally {
        await other.end().catch(() => undefined);
      }
    })();
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}
