/**
 * The constants of PostgreSQL's binary COPY format, shared by the decoder (source) and the
 * encoder (sink): https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4
 */

/** The 11-byte signature every binary COPY stream starts with. */
export const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** Signature, 32-bit flags and 32-bit header-extension length. */
export const HEADER_LENGTH = 19;
/** A field count of -1 ends the stream. */
export const TRAILER = Buffer.from([0xff, 0xff]);
/** A field length of -1 is a NULL. */
export const NULL_LENGTH = -1;

/** 2000-01-01T00:00:00Z, the zero of Postgres dates and timestamps, in Unix milliseconds. */
export const PG_EPOCH_MS = 946_684_800_000;
export const PG_EPOCH_US = BigInt(PG_EPOCH_MS) * 1000n;
/** Days from 1970-01-01 to 2000-01-01. */
export const PG_EPOCH_DAYS = 10_957;
export const DAY_MS = 86_400_000;

/** Type OIDs mlscale reads or writes (pg_type.oid; fixed for built-in types). */
export const OID = {
  bool: 16,
  bytea: 17,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  float4: 700,
  float8: 701,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
} as const;

/** Sign words of the binary numeric format. */
export const NUMERIC_SIGN = { positive: 0x0000, negative: 0x4000, nan: 0xc000, pinf: 0xd000, ninf: 0xf000 } as const;

/** A header with zero flags and no extension. */
export function copyHeader(): Buffer {
  const h = Buffer.alloc(HEADER_LENGTH);
  SIGNATURE.copy(h, 0);
  return h;
}
