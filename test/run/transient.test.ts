import { describe, expect, it } from 'vitest';
import { LockedError, MlscaleError, QualityGateError, RuntimeFailure, UsageError } from '../../src/errors.js';
import { isTransient } from '../../src/run/transient.js';

/** A pg-style error: an Error with a SQLSTATE (or Node) code. */
function coded(code: string, message = `failed with ${code}`): Error {
  return Object.assign(new Error(message), { code });
}
const wrapped = (cause: unknown) => new RuntimeFailure('source: reading the query failed.', { cause });

describe('isTransient: SQLSTATE codes', () => {
  it('retries connection exceptions (class 08 but 08P01), shutdowns, serialization failures, deadlocks, too many connections', () => {
    for (const code of [
      '08000', // connection_exception
      '08003', // connection_does_not_exist
      '08006', // connection_failure
      '08001', // sqlclient_unable_to_establish_sqlconnection
      '08004', // sqlserver_rejected_establishment_of_sqlconnection
      '57P01', // admin_shutdown
      '57P02', // crash_shutdown
      '57P03', // cannot_connect_now
      '40001', // serialization_failure
      '40P01', // deadlock_detected
      '53300', // too_many_connections
    ])
      expect(isTransient(wrapped(coded(code))), code).toBe(true);
  });

  it('fails at once on everything else', () => {
    for (const code of [
      '42601', // syntax_error
      '08P01', // protocol_violation: class 08, but it happens again on a retry
      '23505', // unique_violation
      '42P01', // undefined_table
      '22012', // division_by_zero
      '57014', // query_canceled
      '57P04', // database_dropped
      '40002', // transaction_integrity_constraint_violation
      '53100', // disk_full
      '53200', // out_of_memory
      '28P01', // invalid_password
      '3D000', // invalid_catalog_name
      'XX000', // internal_error
      '',
    ])
      expect(isTransient(wrapped(coded(code))), code).toBe(false);
  });

  it('reads the code of the RuntimeFailure itself as well as of its causes', () => {
    expect(isTransient(new RuntimeFailure('x', { code: '08006' }))).toBe(true);
    expect(isTransient(new RuntimeFailure('x', { code: 'source_postgres' }))).toBe(false);
    expect(isTransient(new RuntimeFailure('x'))).toBe(false);
  });

  it('ignores codes that are not strings', () => {
    expect(isTransient(wrapped(Object.assign(new Error('e'), { code: 8006 })))).toBe(false);
    expect(isTransient(wrapped(Object.assign(new Error('e'), { code: -104 })))).toBe(false);
  });
});

describe('isTransient: Node codes', () => {
  it('retries dropped and refused connections, broken pipes, timeouts and unreachable hosts', () => {
    for (const code of ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH'])
      expect(isTransient(wrapped(coded(code))), code).toBe(true);
  });

  it('does not retry other system errors', () => {
    for (const code of ['ENOENT', 'EACCES', 'ENOTFOUND', 'EADDRINUSE', 'ERR_INVALID_ARG_TYPE', 'econnreset'])
      expect(isTransient(wrapped(coded(code))), code).toBe(false);
  });
});

describe('isTransient: messages', () => {
  it('retries the messages of a lost or restarting server, in any case', () => {
    for (const message of [
      'Connection terminated unexpectedly',
      'Connection terminated due to connection timeout',
      'terminating connection due to administrator command',
      'FATAL: terminating connection because of crash of another server process',
      'server closed the connection unexpectedly',
      'the database system is starting up',
      'the database system is shutting down',
      'THE DATABASE SYSTEM IS SHUTTING DOWN',
    ])
      expect(isTransient(wrapped(new Error(message))), message).toBe(true);
    // On the RuntimeFailure itself too.
    expect(isTransient(new RuntimeFailure('source: Connection terminated unexpectedly'))).toBe(true);
  });

  it('does not retry other messages', () => {
    for (const message of [
      'relation "t" does not exist',
      'the database system is in recovery mode', // (57P03 carries the code, tested above)
      'connection to server failed: password authentication failed',
      'Query read timeout',
    ])
      expect(isTransient(wrapped(new Error(message))), message).toBe(false);
  });

  it('reads messages of Error causes only, not of plain objects', () => {
    expect(isTransient(wrapped({ message: 'Connection terminated unexpectedly' }))).toBe(false);
    expect(isTransient(wrapped('Connection terminated unexpectedly'))).toBe(false);
  });
});

describe('isTransient: causes and error families', () => {
  it('finds a transient cause at any depth', () => {
    const deep = new Error('outer', {
      cause: new Error('middle', { cause: new Error('inner', { cause: coded('ECONNRESET', 'read ECONNRESET') }) }),
    });
    expect(isTransient(wrapped(deep))).toBe(true);
    expect(isTransient(wrapped(new Error('outer', { cause: new Error('middle', { cause: coded('42601') }) })))).toBe(
      false,
    );
    // A plain object in the chain still passes its cause on.
    expect(isTransient(wrapped({ cause: { code: '40P01' } }))).toBe(true);
  });

  it('never retries errors that are not RuntimeFailures, whatever they hold', () => {
    for (const err of [
      coded('ECONNRESET'),
      coded('08006'),
      new Error('Connection terminated unexpectedly'),
      new UsageError('bad job', { cause: coded('ECONNRESET') }),
      new QualityGateError('too many rejects', { cause: coded('08006') }),
      new LockedError('locked', { cause: coded('40P01') }),
      new MlscaleError('08006', 1, 'Connection terminated unexpectedly'),
      { code: '08006' },
      'ECONNRESET',
      undefined,
      null,
    ])
      expect(isTransient(err)).toBe(false);
  });
});

describe('isTransient on a cause chain that loops', () => {
  it('looks at each error once and answers', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(isTransient(new RuntimeFailure('x', { cause: b }))).toBe(false);
    const c = Object.assign(new Error('c'), { code: '57P01' }) as Error & { cause?: unknown };
    c.cause = b;
    a.cause = c;
    expect(isTransient(new RuntimeFailure('x', { cause: b }))).toBe(true);
  });
});
