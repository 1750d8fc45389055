import { RuntimeFailure } from '../errors.js';

/**
 * Failures worth starting over for: a dropped connection, a server shutting down or restarting,
 * too many connections, serialization failures. Everything else fails the run at once.
 */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof RuntimeFailure)) return false;
  // Class 08 is the connection's, except 08P01: a protocol violation happens again on a retry.
  const TRANSIENT_SQLSTATE = /^(08(?!P01)|57P0[123]|40001|40P01|53300)/;
  const TRANSIENT_NODE = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);
  const seen = new Set<unknown>();
  // A cause chain can loop (a.cause = b, b.cause = a): each error is looked at once.
  for (let e: unknown = err; e && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (TRANSIENT_SQLSTATE.test(code) || TRANSIENT_NODE.has(code))) return true;
    if (
      e instanceof Error &&
      /Connection terminated|terminating connection|server closed the connection|the database system is (starting up|shutting down)/i.test(
        e.message,
      )
    )
      return true;
  }
  return false;
}
