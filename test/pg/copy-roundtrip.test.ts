import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  Binary,
  Bool,
  DataType,
  DateDay,
  Decimal,
  Dictionary,
  Field,
  Float16,
  Float32,
  Float64,
  Int16,
  Int32,
  Int64,
  Int8,
  List,
  Table,
  TimestampMicrosecond,
  Uint16,
  Uint32,
  Uint64,
  Uint8,
  Utf8,
  makeData,
  makeVector,
  vectorFromArray,
  type RecordBatch,
  type Vector,
} from 'apache-arrow';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DAY_MS,
  HEADER_LENGTH,
  NULL_LENGTH,
  OID,
  PG_EPOCH_DAYS,
  PG_EPOCH_MS,
  PG_EPOCH_US,
  SIGNATURE,
  TRAILER,
  copyHeader,
} from '../../src/pg/binary-format.js';
import { PgBinaryDecoder } from '../../src/pg/copy-decoder.js';
import { Writer, binaryWriter } from '../../src/pg/copy-encoder.js';
import { PG_TYPES, sqlTypeForArrow, valueType } from '../../src/pg/types.js';
import { databaseUrl, skipPg, tempSchema } from '../support/pg.js';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

type Columns = { name: string; oid: number }[];

/** Feeds `buf` in chunks of `chunk` bytes (all at once when undefined) and collects every batch. */
function decode(columns: Columns, buf: Buffer, batchSize = 1000, chunk?: number): RecordBatch[] {
  const d = new PgBinaryDecoder(columns, batchSize);
  const out: RecordBatch[] = [];
  if (chunk === undefined) out.push(...d.push(buf));
  else for (let i = 0; i < buf.length; i += chunk) out.push(...d.push(buf.subarray(i, i + chunk)));
  const last = d.end();
  if (last) out.push(last);
  return out;
}

/** Each column's values over all batches, as Arrow's get() returns them. */
function valuesOf(batches: RecordBatch[]): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const b of batches)
    for (const f of b.schema.fields) {
      const v = b.getChild(f.name)!;
      for (let i = 0; i < v.length; i++) (out[f.name] ??= []).push(v.get(i));
    }
  return out;
}

/** The raw 64-bit values of a timestamp column (µs since 1970), nulls as null. */
function rawMicros(batches: RecordBatch[], name: string): (bigint | null)[] {
  return batches.flatMap((b) => {
    const v = b.getChild(name)!;
    const data = v.data[0]!;
    expect(data.values).toBeInstanceOf(BigInt64Array);
    return Array.from({ length: v.length }, (_, i) => (v.isValid(i) ? (data.values as BigInt64Array)[i]! : null));
  });
}

/** µs since 1970 of a UTC wall-clock time, from Date.UTC plus sub-millisecond micros. */
const utcMicros = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0, us = 0) => {
  const ms = new Date(0);
  ms.setUTCFullYear(y, mo - 1, d); // setUTCFullYear keeps years 0..99 as they are
  ms.setUTCHours(h, mi, s, 0);
  return BigInt(ms.getTime()) * 1000n + BigInt(us);
};
/** Days since 1970 of a calendar date. */
const utcDays = (iso: string) => Date.parse(`${iso}T00:00:00Z`) / DAY_MS;

function frame(...rows: Buffer[]): Buffer {
  return Buffer.concat([copyHeader(), ...rows, TRAILER]);
}
/** One binary COPY row from int4 values (null for NULL). */
function int4Row(...values: (number | null)[]): Buffer {
  const w = new Writer(8);
  w.i16(values.length);
  for (const v of values) {
    if (v === null) w.null();
    else {
      w.field(4);
      w.pos = w.buf.writeInt32BE(v, w.pos);
    }
  }
  return Buffer.from(w.view());
}

/** A vector with explicit nulls, built from raw values: lets tests hold exact µs and day counts. */
function rawVector<T extends DataType>(type: T, values: ArrayLike<number | bigint>, nulls: readonly number[] = []) {
  const n = values.length;
  const bitmap = new Uint8Array((n + 7) >> 3);
  for (let i = 0; i < n; i++) if (!nulls.includes(i)) bitmap[i >> 3]! |= 1 << (i & 7);
  return makeVector(
    makeData({
      type,
      length: n,
      nullCount: nulls.length,
      nullBitmap: nulls.length ? bitmap : null,
      data: values,
    } as never),
  ) as Vector<T>;
}

/** Encodes a table as a binary COPY stream with binaryWriter per field, the way the sink does. */
function encodeTable(table: Table, initial = 16): Buffer {
  const fields = table.schema.fields;
  const writers = fields.map((f) => {
    const w = binaryWriter(f);
    if (!w) throw new Error(`no binary writer for ${f.name}: ${String(f.type)}`);
    return w;
  });
  const cols = fields.map((f) => table.getChild(f.name)!);
  const w = new Writer(initial); // small on purpose: the buffer must grow
  for (let r = 0; r < table.numRows; r++) {
    w.i16(fields.length);
    cols.forEach((c, k) => {
      const v = c.get(r);
      if (v === null || v === undefined) w.null();
      else writers[k]!(w, v);
    });
  }
  return frame(Buffer.from(w.view()));
}

// ---------------------------------------------------------------------------------------------
// The format's constants and the Writer, without a server
// ---------------------------------------------------------------------------------------------

describe('binary COPY format constants', () => {
  it('has the documented signature, header, trailer and epochs', () => {
    // "PGCOPY\n\377\r\n\0" per the COPY documentation.
    expect([...SIGNATURE]).toEqual([0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00]);
    expect(HEADER_LENGTH).toBe(11 + 4 + 4);
    const h = copyHeader();
    expect(h.length).toBe(19);
    expect(h.subarray(0, 11).equals(SIGNATURE)).toBe(true);
    expect(h.readInt32BE(11)).toBe(0); // flags
    expect(h.readInt32BE(15)).toBe(0); // header extension length
    expect(copyHeader()).not.toBe(h); // a fresh buffer each time
    expect([...TRAILER]).toEqual([0xff, 0xff]);
    expect(TRAILER.readInt16BE(0)).toBe(-1);
    expect(NULL_LENGTH).toBe(-1);
    expect(PG_EPOCH_MS).toBe(Date.UTC(2000, 0, 1));
    expect(PG_EPOCH_US).toBe(BigInt(Date.UTC(2000, 0, 1)) * 1000n);
    expect(PG_EPOCH_DAYS).toBe(Date.UTC(2000, 0, 1) / 86_400_000);
    expect(DAY_MS).toBe(24 * 60 * 60 * 1000);
  });

  it('maps every OID to the Arrow type the decoder builds', () => {
    const t = (oid: number) => String(PG_TYPES[oid]!.arrow());
    expect(
      Object.fromEntries(
        (Object.keys(OID) as (keyof typeof OID)[]).filter((k) => PG_TYPES[OID[k]]).map((k) => [k, t(OID[k])]),
      ),
    ).toEqual({
      bool: 'Bool',
      name: 'Utf8',
      int8: 'Int64',
      int2: 'Int16',
      int4: 'Int32',
      text: 'Utf8',
      float4: 'Float32',
      float8: 'Float64',
      bpchar: 'Utf8',
      varchar: 'Utf8',
      date: 'Date32<DAY>',
      timestamp: 'Timestamp<MICROSECOND>',
      timestamptz: 'Timestamp<MICROSECOND, UTC>',
      numeric: 'Float64',
    });
    // bytea is a known OID but not a type the source reads.
    expect(PG_TYPES[OID.bytea]).toBeUndefined();
  });
});

describe('Writer', () => {
  it('writes big-endian integers, length-prefixed bytes and NULL, growing as needed', () => {
    const w = new Writer(1);
    w.i16(-2);
    w.i32(0x01020304);
    w.null();
    w.bytes(Buffer.from('hé', 'utf8'));
    expect([...w.view()]).toEqual([0xff, 0xfe, 1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 3, 0x68, 0xc3, 0xa9]);
    expect(w.pos).toBe(17);
    expect(w.buf.length).toBeGreaterThanOrEqual(17);
  });

  it('keeps what was written when the buffer grows', () => {
    const w = new Writer(4);
    for (let i = 0; i < 1000; i++) w.i32(i);
    const v = w.view();
    expect(v.length).toBe(4000);
    for (let i = 0; i < 1000; i++) expect(v.readInt32BE(i * 4)).toBe(i);
  });

  it('writes timestamps as µs since 2000-01-01 from Unix milliseconds', () => {
    const w = new Writer(0);
    w.timestamp(PG_EPOCH_MS);
    w.timestamp(0);
    w.timestamp(Date.UTC(2000, 0, 1, 0, 0, 1) + 0.001); // one second and one microsecond
    const v = w.view();
    expect(v.readInt32BE(0)).toBe(8);
    expect(v.readBigInt64BE(4)).toBe(0n);
    expect(v.readBigInt64BE(16)).toBe(-946_684_800_000_000n);
    expect(v.readBigInt64BE(28)).toBe(1_000_001n);
  });
});

describe('sqlTypeForArrow and binaryWriter', () => {
  it('gives each Arrow type the Postgres column type that holds it', () => {
    const cases: [DataType, string][] = [
      [new Bool(), 'boolean'],
      [new Int8(), 'smallint'],
      [new Int16(), 'smallint'],
      [new Int32(), 'integer'],
      [new Int64(), 'bigint'],
      [new Uint8(), 'integer'],
      [new Uint16(), 'integer'],
      [new Uint32(), 'bigint'],
      [new Uint64(), 'numeric'],
      [new Float32(), 'real'],
      [new Float64(), 'double precision'],
      [new Utf8(), 'text'],
      [new Dictionary(new Utf8(), new Int32()), 'text'],
      [new DateDay(), 'date'],
      [new TimestampMicrosecond(), 'timestamp'],
      [new TimestampMicrosecond('UTC'), 'timestamptz'],
      [new Decimal(4, 12, 128), 'numeric(12, 4)'],
      [new Binary(), 'bytea'],
    ];
    expect(cases.map(([t]) => sqlTypeForArrow(new Field('c', t)))).toEqual(cases.map(([, s]) => s));
    expect(String(valueType(new Field('c', new Dictionary(new Utf8(), new Int32()))))).toBe('Utf8');
  });

  it('has no binary form for uint64, float16, decimals and lists (those go as text)', () => {
    for (const t of [new Uint64(), new Float16(), new Decimal(2, 10, 128), new List(new Field('x', new Int32()))])
      expect(binaryWriter(new Field('c', t))).toBeUndefined();
  });

  it('writes each value with the width of its Postgres type', () => {
    const width = (t: DataType, v: unknown) => {
      const w = new Writer(0);
      binaryWriter(new Field('c', t))!(w, v);
      return w.view().readInt32BE(0);
    };
    expect(width(new Bool(), true)).toBe(1);
    expect(width(new Int8(), -1)).toBe(2);
    expect(width(new Uint8(), 255)).toBe(4);
    expect(width(new Int32(), 1)).toBe(4);
    expect(width(new Uint32(), 4294967295)).toBe(8);
    expect(width(new Int64(), 5n)).toBe(8);
    expect(width(new Float32(), 0.5)).toBe(4);
    expect(width(new Float64(), 0.5)).toBe(8);
    expect(width(new DateDay(), 0)).toBe(4);
    expect(width(new TimestampMicrosecond('UTC'), 0)).toBe(8);
    expect(width(new Utf8(), '☃')).toBe(3);
  });
});

// ---------------------------------------------------------------------------------------------
// The decoder, without a server: streams built by hand
// ---------------------------------------------------------------------------------------------

describe('PgBinaryDecoder errors and framing', () => {
  const one: Columns = [{ name: 'a', oid: OID.int4 }];

  it('rejects a stream without the binary COPY signature', () => {
    const bad = Buffer.from(copyHeader());
    bad[7] = 0xfe;
    expect(() => new PgBinaryDecoder(one, 10).push(bad)).toThrow('not a binary COPY stream');
    // A text-format COPY stream, as when FORMAT binary was forgotten.
    expect(() => new PgBinaryDecoder(one, 10).push(Buffer.from('1\t2\n3\t4\n5\t6\n7\t8\n9\t10\n'))).toThrow(
      new Error('not a binary COPY stream'),
    );
  });

  it('rejects a row with the wrong number of fields, once the row is complete', () => {
    const d = new PgBinaryDecoder(one, 10);
    const buf = frame(int4Row(1), int4Row(2, 3));
    // The first row decodes; the second is checked only when all of it is there.
    const row2At = 19 + int4Row(1).length;
    expect(d.push(buf.subarray(0, row2At + 5))).toEqual([]);
    expect(() => d.push(buf.subarray(row2At + 5))).toThrow(new Error('binary COPY row has 2 fields, expected 1'));
    expect(() => decode([...one, { name: 'b', oid: OID.int4 }, { name: 'c', oid: OID.int4 }], buf)).toThrow(
      'binary COPY row has 1 fields, expected 3',
    );
  });

  it('rejects a fixed-width field of another width, naming the column, wherever the row lies', () => {
    // An int4 column whose field is 8 bytes long: reading 4 of them would shift every later value.
    const wide = Buffer.alloc(2 + 4 + 8);
    wide.writeInt16BE(1, 0);
    wide.writeInt32BE(8, 2);
    const buf = frame(int4Row(1), wide, ...Array.from({ length: 50 }, (_, i) => int4Row(i)));
    expect(() => decode(one, buf)).toThrow(new Error('binary COPY field of column "a" has 8 bytes, expected 4'));
    // Split so the bad row is the last whole one in its chunk (the careful path) and mid-buffer (the fast path).
    expect(() => decode(one, buf, 1000, 19 + int4Row(1).length + wide.length)).toThrow('has 8 bytes, expected 4');
  });

  it('fails at the end of a stream that stopped before its trailer', () => {
    const full = frame(int4Row(1), int4Row(2));
    for (const cut of [19, 19 + 6, 19 + 10, full.length - 2, full.length - 1]) {
      const d = new PgBinaryDecoder(one, 10);
      d.push(full.subarray(0, cut));
      expect(() => d.end(), `cut at ${cut}`).toThrow(new Error('binary COPY stream ended without its trailer'));
    }
  });

  it('decodes NULLs and values, batch by batch, and the partial batch at the end', () => {
    const rows = [1, null, -3, 2147483647, null, -2147483648, 0];
    const buf = frame(...rows.map((v) => int4Row(v, v === null ? 7 : null)));
    const cols: Columns = [...one, { name: 'b', oid: OID.int4 }];
    const d = new PgBinaryDecoder(cols, 3);
    const first = d.push(buf);
    expect(first.map((b) => b.numRows)).toEqual([3, 3]);
    const last = d.end()!;
    expect(last.numRows).toBe(1);
    expect(d.end()).toBeUndefined(); // nothing left
    const v = valuesOf([...first, last]);
    expect(v.a).toEqual(rows);
    expect(v.b).toEqual(rows.map((x) => (x === null ? 7 : null)));
    expect(first[0]!.getChild('a')!.nullCount).toBe(1);
    expect(first[0]!.getChild('b')!.nullCount).toBe(2);
  });

  it('decodes a row split across chunks, even one byte at a time', () => {
    const rows = Array.from({ length: 50 }, (_, i) => (i % 5 === 0 ? null : i * 1000 - 7));
    const buf = frame(...rows.map((v) => int4Row(v)));
    for (const chunk of [1, 2, 3, 7, 19, 20, buf.length]) {
      expect(valuesOf(decode(one, buf, 16, chunk)).a, `chunks of ${chunk}`).toEqual(rows);
    }
  });

  it('decodes rows split at every place network chunks fall, rows longer than a chunk included', () => {
    // (int4, text) rows whose text runs from empty to 20,000 bytes: rows shorter and longer than
    // the part of the next chunk a split row is joined with (4 KiB and more), and than a chunk.
    const cols: Columns = [
      { name: 'i', oid: OID.int4 },
      { name: 's', oid: OID.text },
    ];
    const texts = Array.from({ length: 300 }, (_, r) => (r % 7 === 3 ? null : 'abcdefghij'.repeat((r * 677) % 2001)));
    const row = (r: number) => {
      const t = texts[r];
      const head = Buffer.alloc(2 + 4 + 4 + 4);
      head.writeInt16BE(2, 0);
      head.writeInt32BE(4, 2);
      head.writeInt32BE(r, 6);
      head.writeInt32BE(t === null ? -1 : Buffer.byteLength(t!), 10);
      return t === null ? head : Buffer.concat([head, Buffer.from(t!)]);
    };
    const buf = frame(...texts.map((_, r) => row(r)));
    expect(buf.length).toBeGreaterThan(2_000_000);
    for (const chunk of [100, 4095, 4096, 4097, 16_411, 65_536, buf.length]) {
      const got = valuesOf(decode(cols, buf, 64, chunk));
      expect(got.i, `chunks of ${chunk}`).toEqual(texts.map((_, r) => r));
      expect(got.s, `chunks of ${chunk}`).toEqual(texts);
    }
  });

  it('yields no batch for an empty result', () => {
    expect(decode(one, frame())).toEqual([]);
  });

  it('skips a header extension area', () => {
    // Flags 0, extension of 4 bytes: readers must skip what they do not know.
    const h = Buffer.alloc(23);
    SIGNATURE.copy(h);
    h.writeInt32BE(4, 15);
    h.writeInt32BE(0x7fffffff, 19);
    const buf = Buffer.concat([h, int4Row(42), TRAILER]);
    expect(valuesOf(decode(one, buf)).a).toEqual([42]);
  });

  it('skips a header extension split across chunks', () => {
    const h = Buffer.alloc(23);
    SIGNATURE.copy(h);
    h.writeInt32BE(4, 15);
    const buf = Buffer.concat([h, int4Row(42), TRAILER]);
    expect(valuesOf(decode(one, buf, 10, 1)).a).toEqual([42]);
  });

  it('fails at the end of a stream cut inside its header', () => {
    const d = new PgBinaryDecoder(one, 10);
    d.push(copyHeader().subarray(0, 10));
    expect(() => d.end()).toThrow('binary COPY stream ended without its trailer');
  });
});

describe('Arrow → encoder → decoder (no server)', () => {
  it('reads back what binaryWriter wrote, NULLs included', () => {
    const table: Table = new Table({
      b: vectorFromArray([true, null, false], new Bool()),
      i2: vectorFromArray([-32768, 32767, null], new Int16()),
      i4: vectorFromArray([null, -2147483648, 2147483647], new Int32()),
      i8: vectorFromArray([-(2n ** 63n), null, 2n ** 63n - 1n], new Int64()),
      f4: vectorFromArray([Math.fround(0.1), -Infinity, null], new Float32()),
      f8: vectorFromArray([Number.MIN_VALUE, null, -1e308], new Float64()),
      s: vectorFromArray(['', 'tab\tnew\nline ☃ 𝄞', null], new Utf8()),
      d: rawVector(new DateDay(), Int32Array.from([utcDays('1969-07-20'), 0, utcDays('2999-12-31')]), [1]),
      ts: rawVector(new TimestampMicrosecond(), BigInt64Array.from([-1n, 0n, 1_704_112_496_789_012n]), [1]),
    });
    const cols: Columns = [
      { name: 'b', oid: OID.bool },
      { name: 'i2', oid: OID.int2 },
      { name: 'i4', oid: OID.int4 },
      { name: 'i8', oid: OID.int8 },
      { name: 'f4', oid: OID.float4 },
      { name: 'f8', oid: OID.float8 },
      { name: 's', oid: OID.text },
      { name: 'd', oid: OID.date },
      { name: 'ts', oid: OID.timestamp },
    ];
    const buf = encodeTable(table);
    const batches = decode(cols, buf, 2, 3);
    const got = valuesOf(batches);
    for (const f of table.schema.fields)
      expect(got[f.name], f.name).toEqual(Array.from({ length: 3 }, (_, i) => table.getChild(f.name)!.get(i)));
    expect(rawMicros(batches, 'ts')).toEqual([-1n, null, 1_704_112_496_789_012n]);
  });
});

// ---------------------------------------------------------------------------------------------
// Through a real PostgreSQL
// ---------------------------------------------------------------------------------------------

describe.skipIf(skipPg)('binary COPY through a real PostgreSQL', () => {
  let schema: { name: string; drop(): Promise<void> };
  let client: pg.Client;

  beforeAll(async () => {
    schema = await tempSchema('copy_rt');
    client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    await client.query(`SET search_path = ${schema.name}`);
  });
  afterAll(async () => {
    await client?.end();
    await schema?.drop();
  });

  async function columnsOf(sql: string): Promise<Columns> {
    const r = await client.query(`SELECT * FROM (${sql}) AS q LIMIT 0`);
    return r.fields.map((f) => ({ name: f.name, oid: f.dataTypeID }));
  }
  async function copyOut(sql: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of client.query(copyTo(`COPY (${sql}) TO STDOUT (FORMAT binary)`))) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }
  async function copyIn(table: string, buf: Buffer): Promise<void> {
    await pipeline(Readable.from([buf]), client.query(copyFrom(`COPY ${table} FROM STDIN (FORMAT binary)`)));
  }
  /** COPY TO → decoder, whole and one byte at a time; both must agree. */
  async function readBack(sql: string, batchSize = 1000) {
    const columns = await columnsOf(sql);
    const buf = await copyOut(sql);
    const batches = decode(columns, buf, batchSize);
    const bytewise = decode(columns, buf, batchSize, 1);
    expect(valuesOf(bytewise)).toEqual(valuesOf(batches));
    return { columns, batches, values: valuesOf(batches), buf };
  }

  it('reports the OIDs and type names the decoder expects', async () => {
    const names = Object.keys(PG_TYPES).map(Number);
    const r = await client.query<{ oid: number; name: string }>(
      'SELECT oid::int AS oid, format_type(oid, NULL) AS name FROM unnest($1::oid[]) AS oid',
      [names],
    );
    expect(Object.fromEntries(r.rows.map((x) => [x.oid, x.name]))).toEqual(
      Object.fromEntries(names.map((o) => [o, PG_TYPES[o]!.name])),
    );
    const t = await client.query<{ typname: string; oid: number }>(
      'SELECT typname, oid::int AS oid FROM pg_type WHERE typname = ANY($1)',
      [
        [
          'bool',
          'bytea',
          'name',
          'int8',
          'int2',
          'int4',
          'text',
          'float4',
          'float8',
          'bpchar',
          'varchar',
          'date',
          'timestamp',
          'timestamptz',
          'numeric',
        ],
      ],
    );
    const byName = Object.fromEntries(t.rows.map((x) => [x.typname, x.oid]));
    expect(OID).toEqual({
      bool: byName.bool,
      bytea: byName.bytea,
      name: byName.name,
      int8: byName.int8,
      int2: byName.int2,
      int4: byName.int4,
      text: byName.text,
      float4: byName.float4,
      float8: byName.float8,
      bpchar: byName.bpchar,
      varchar: byName.varchar,
      date: byName.date,
      timestamp: byName.timestamp,
      timestamptz: byName.timestamptz,
      numeric: byName.numeric,
    });
  });

  describe('(a) COPY TO STDOUT → decoder', () => {
    it('reads booleans, integers and floats with their extremes and NULLs', async () => {
      const { columns, values, batches } = await readBack(`
        SELECT * FROM (VALUES
          (1, true,  32767::int2,  2147483647::int4,  9223372036854775807::int8, 1.5::float4,        1e300::float8),
          (2, false, (-32768)::int2, (-2147483648)::int4, (-9223372036854775808)::int8, (-0.1)::float4, (-0.1)::float8),
          (3, NULL,  NULL,         NULL,              NULL,                      NULL,               NULL),
          (4, true,  0::int2,      0::int4,           9007199254740993::int8,    'Infinity'::float4, 'NaN'::float8),
          (5, false, (-1)::int2,   123456::int4,      (-1)::int8,                3.4028235e38::float4, '-Infinity'::float8),
          (6, true,  7::int2,      7::int4,           7::int8,                   '-0'::float4,       4.9e-324::float8)
        ) AS t(ord, b, i2, i4, i8, f4, f8) ORDER BY ord`);
      expect(columns.map((c) => c.oid)).toEqual([
        OID.int4,
        OID.bool,
        OID.int2,
        OID.int4,
        OID.int8,
        OID.float4,
        OID.float8,
      ]);
      expect(batches[0]!.schema.fields.map((f) => String(f.type))).toEqual([
        'Int32',
        'Bool',
        'Int16',
        'Int32',
        'Int64',
        'Float32',
        'Float64',
      ]);
      expect(values.b).toEqual([true, false, null, true, false, true]);
      expect(values.i2).toEqual([32767, -32768, null, 0, -1, 7]);
      expect(values.i4).toEqual([2147483647, -2147483648, null, 0, 123456, 7]);
      expect(values.i8).toEqual([2n ** 63n - 1n, -(2n ** 63n), null, 9007199254740993n, -1n, 7n]);
      expect(values.f4).toEqual([1.5, Math.fround(-0.1), null, Infinity, Math.fround(3.4028235e38), -0]);
      expect(Object.is(values.f4![5], -0)).toBe(true);
      expect(values.f8).toEqual([1e300, -0.1, null, NaN, -Infinity, Number.MIN_VALUE]);
    });

    it('reads numeric as float64: negative, fractional, large, NaN and infinities', async () => {
      const literals = [
        '-1234.5678',
        '0.0001',
        '-0.5',
        '0',
        '12345678901234567890',
        '1e100',
        '123456789.123456789',
        '9007199254740993',
        'NaN',
        'Infinity',
        '-Infinity',
      ];
      const sql = `SELECT n, n::float8 AS pg_float FROM (VALUES ${[...literals, null]
        .map((l, i) => `(${i}, ${l === null ? 'NULL' : `'${l}'`}::numeric)`)
        .join(', ')}) AS t(ord, n) ORDER BY ord`;
      const { columns, values } = await readBack(sql);
      expect(columns[0]!.oid).toBe(OID.numeric);
      // Expected: the double nearest each decimal (JavaScript's own parsing), and Postgres's own cast agrees.
      expect(values.n).toEqual([...literals.map(Number), null]);
      expect(values.n).toEqual(values.pg_float);
    });

    it('reads numeric as the nearest float64 (as n::float8 does)', async () => {
      const literals = ['0.03', '0.123456789', '3.14159265358979323846', '1e-20'];
      const sql = `SELECT n FROM (VALUES ${literals.map((l, i) => `(${i}, '${l}'::numeric)`).join(', ')}) AS t(ord, n) ORDER BY ord`;
      const { values } = await readBack(sql);
      expect(values.n).toEqual(literals.map(Number));
    });

    it('reads text, varchar, char and name byte for byte: tabs, newlines, backslashes, unicode, empty', async () => {
      const { columns, values } = await readBack(`
        SELECT * FROM (VALUES
          (1, E'tab\\there', 'v1'::varchar(10), 'ab'::char(5), 'pg_name'::name),
          (2, E'new\\nline\\r\\nend', ''::varchar(10), 'abcde'::char(5), 'x'::name),
          (3, NULL, NULL, NULL, NULL),
          (4, 'héllo ☃ 𝄞 日本語', 'ü€'::varchar(10), '日本'::char(5), 'ü'::name),
          (5, '', 'O''Brien'::varchar(10), ''::char(5), ''::name),
          (6, E'back\\\\slash \\"quoted\\"', 'a\tb'::varchar(10), 'x'::char(1), 'n'::name)
        ) AS t(ord, s, v, c, nm) ORDER BY ord`);
      expect(columns.map((c) => c.oid)).toEqual([OID.int4, OID.text, OID.varchar, OID.bpchar, OID.name]);
      expect(values.s).toEqual(['tab\there', 'new\nline\r\nend', null, 'héllo ☃ 𝄞 日本語', '', 'back\\slash "quoted"']);
      expect(values.v).toEqual(['v1', '', null, 'ü€', "O'Brien", 'a\tb']);
      // char(n) is blank-padded to n characters (not bytes).
      expect(values.c).toEqual(['ab   ', 'abcde', null, '日本   ', '     ', 'x']);
      expect(values.nm).toEqual(['pg_name', 'x', null, 'ü', '', 'n']);
    });

    it('reads dates before 2000, before 1970 and far back, as days since 1970', async () => {
      const dates = [
        '2024-02-29',
        '2000-01-01',
        '1999-12-31',
        '1970-01-01',
        '1969-12-31',
        '1969-07-20',
        '1900-03-01',
        '0001-01-01',
      ];
      const sql = `SELECT d, (d - DATE '1970-01-01') AS pg_days FROM (VALUES ${[...dates, null]
        .map((d, i) => `(${i}, ${d === null ? 'NULL' : `DATE '${d}'`})`)
        .join(', ')}) AS t(ord, d) ORDER BY ord`;
      const { values, batches } = await readBack(sql);
      // Arrow returns a DateDay as Unix milliseconds at midnight UTC.
      expect(values.d).toEqual([...dates.map((d) => Date.parse(`${d}T00:00:00Z`)), null]);
      const raw = Array.from(batches[0]!.getChild('d')!.data[0]!.values as Int32Array).slice(0, dates.length);
      expect(raw).toEqual(values.pg_days!.slice(0, dates.length));
      expect(raw.slice(0, 6)).toEqual([19782, 10957, 10956, 0, -1, -165]);
    });

    it("refuses 'infinity' dates and timestamps by column name instead of wrapping them", async () => {
      for (const [sql, column] of [
        [`SELECT 'infinity'::date AS d`, 'd'],
        [`SELECT '-infinity'::date AS d`, 'd'],
        [`SELECT 'infinity'::timestamp AS ts`, 'ts'],
        [`SELECT '-infinity'::timestamptz AS tz`, 'tz'],
      ] as const) {
        const columns = await columnsOf(sql);
        const bytes = await copyOut(sql);
        expect(() => decode(columns, bytes)).toThrow(
          `column "${column}" holds 'infinity' or '-infinity', which has no date or timestamp value in Arrow; filter those rows out or map them to NULL in the query`,
        );
      }
    });

    it('reads timestamps as µs since 1970, before 2000 and 1970 included', async () => {
      const { batches, values } = await readBack(`
        SELECT ts, (extract(epoch FROM ts) * 1000000)::int8 AS pg_us FROM (VALUES
          (1, TIMESTAMP '2024-01-01 12:34:56.789012'),
          (2, TIMESTAMP '1999-12-31 23:59:59.999999'),
          (3, NULL),
          (4, TIMESTAMP '1969-07-20 20:17:40'),
          (5, TIMESTAMP '1900-01-01 00:00:00.000001'),
          (6, TIMESTAMP '2000-01-01 00:00:00')
        ) AS t(ord, ts) ORDER BY ord`);
      const expected = [
        utcMicros(2024, 1, 1, 12, 34, 56, 789012),
        utcMicros(1999, 12, 31, 23, 59, 59, 999999),
        null,
        utcMicros(1969, 7, 20, 20, 17, 40),
        utcMicros(1900, 1, 1, 0, 0, 0, 1),
        utcMicros(2000, 1, 1),
      ];
      expect(rawMicros(batches, 'ts')).toEqual(expected);
      expect(rawMicros(batches, 'ts')).toEqual(values.pg_us);
      expect(String(batches[0]!.schema.fields[0]!.type)).toBe('Timestamp<MICROSECOND>');
    });

    it('reads timestamptz as UTC instants whatever the session TimeZone, from literals with offsets', async () => {
      await client.query(`CREATE TABLE tz (ord int, tz timestamptz)`);
      // Literals without an offset are read in the session's zone: New York here.
      await client.query(`SET TimeZone = 'America/New_York'`);
      await client.query(`INSERT INTO tz VALUES
        (1, '2024-03-10 01:59:59-05'),       -- last second of EST
        (2, '2024-03-10 03:00:00'),          -- New York local, just after the spring-forward gap (EDT)
        (3, '2024-11-03 01:30:00'),          -- ambiguous local time: Postgres takes the later (EST) one
        (4, '2024-07-01 12:00:00+09:30'),
        (5, '2024-01-01 00:00:00+00'),
        (6, '1950-06-15 12:00:00+01'),
        (7, '1999-12-31 23:59:59.999999 UTC'),
        (8, NULL),
        (9, '1969-12-31 23:59:59.999999+00')`);
      const expected = [
        utcMicros(2024, 3, 10, 6, 59, 59),
        utcMicros(2024, 3, 10, 7, 0, 0),
        utcMicros(2024, 11, 3, 6, 30, 0),
        utcMicros(2024, 7, 1, 2, 30, 0),
        utcMicros(2024, 1, 1),
        utcMicros(1950, 6, 15, 11, 0, 0),
        utcMicros(1999, 12, 31, 23, 59, 59, 999999),
        null,
        -1n,
      ];
      const sql = `SELECT tz, (extract(epoch FROM tz) * 1000000)::int8 AS pg_us FROM tz ORDER BY ord`;
      try {
        for (const zone of ['America/New_York', 'UTC', 'Asia/Kathmandu', 'Australia/Lord_Howe']) {
          await client.query(`SET TimeZone = '${zone}'`);
          const { batches, values, columns } = await readBack(sql);
          expect(columns[0]!.oid).toBe(OID.timestamptz);
          expect(String(batches[0]!.schema.fields[0]!.type)).toBe('Timestamp<MICROSECOND, UTC>');
          expect(rawMicros(batches, 'tz'), zone).toEqual(expected);
          expect(rawMicros(batches, 'tz'), zone).toEqual(values.pg_us);
        }
      } finally {
        await client.query(`SET TimeZone = 'UTC'`);
      }
    });

    it('reads every type in one stream, in batches, byte by byte, NULL rows included', async () => {
      const sql = `
        SELECT g AS id, (g % 2 = 0) AS b, g::int2 AS i2, (g * 1000)::int8 AS i8, (g / 4.0)::float4 AS f4,
               (g / 8.0)::float8 AS f8, (g * 0.25 - 3)::numeric AS n, 'row ' || g || E'\\t☃' AS s,
               ('v' || g)::varchar(8) AS v, ('c' || g)::char(4) AS c, DATE '1999-12-25' + g AS d,
               TIMESTAMP '1969-12-31 23:59:50' + g * INTERVAL '1 second' AS ts,
               TIMESTAMPTZ '2024-03-10 06:59:55+00' + g * INTERVAL '1 second' AS tz
          FROM generate_series(1, 20) AS g
        UNION ALL
        SELECT 21, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
        ORDER BY id`;
      const { columns, buf } = await readBack(sql, 6);
      const whole = decode(columns, buf, 6);
      expect(whole.map((b) => b.numRows)).toEqual([6, 6, 6, 3]);
      const v = valuesOf(decode(columns, buf, 6, 1));
      const g = Array.from({ length: 20 }, (_, i) => i + 1);
      const withNull = <T>(xs: T[]) => [...xs, null];
      expect(v.id).toEqual([...g, 21]);
      expect(v.b).toEqual(withNull(g.map((x) => x % 2 === 0)));
      expect(v.i2).toEqual(withNull(g));
      expect(v.i8).toEqual(withNull(g.map((x) => BigInt(x * 1000))));
      expect(v.f4).toEqual(withNull(g.map((x) => x / 4)));
      expect(v.f8).toEqual(withNull(g.map((x) => x / 8)));
      expect(v.n).toEqual(withNull(g.map((x) => x * 0.25 - 3)));
      expect(v.s).toEqual(withNull(g.map((x) => `row ${x}\t☃`)));
      expect(v.v).toEqual(withNull(g.map((x) => `v${x}`)));
      expect(v.c).toEqual(withNull(g.map((x) => `c${x}`.padEnd(4))));
      expect(v.d).toEqual(withNull(g.map((x) => Date.UTC(1999, 11, 25 + x))));
      expect(v.ts).toEqual(withNull(g.map((x) => Date.UTC(1969, 11, 31, 23, 59, 50 + x))));
      expect(v.tz).toEqual(withNull(g.map((x) => Date.UTC(2024, 2, 10, 6, 59, 55 + x))));
    });

    it('keeps NULLs right past the first 8192 rows of a batch', async () => {
      const sql = `SELECT CASE WHEN g % 7 = 0 THEN NULL ELSE g END AS x,
                          CASE WHEN g % 3 = 0 THEN NULL ELSE g::text END AS s
                     FROM generate_series(1, 20000) AS g ORDER BY g`;
      const columns = await columnsOf(sql);
      const buf = await copyOut(sql);
      for (const batchSize of [20_000, 6_000]) {
        const batches = decode(columns, buf, batchSize);
        expect(batches.map((b) => b.numRows)).toEqual(batchSize === 20_000 ? [20_000] : [6000, 6000, 6000, 2000]);
        const v = valuesOf(batches);
        const g = Array.from({ length: 20_000 }, (_, i) => i + 1);
        expect(v.x).toEqual(g.map((x) => (x % 7 === 0 ? null : x)));
        expect(v.s).toEqual(g.map((x) => (x % 3 === 0 ? null : String(x))));
        expect(batches.reduce((n, b) => n + b.getChild('x')!.nullCount, 0)).toBe(Math.floor(20_000 / 7));
      }
    });
  });

  describe('(b) Arrow → binaryWriter → COPY FROM STDIN → SELECT', () => {
    const dayOf = (iso: string) => utcDays(iso);
    const dates = ['1969-07-20', '2000-01-01', '1999-12-31', '1900-03-01', '2024-02-29'];
    const micros = [
      utcMicros(2024, 1, 1, 12, 34, 56, 789012),
      utcMicros(1969, 12, 31, 23, 59, 59, 999999),
      utcMicros(1999, 12, 31, 23, 59, 59, 999999),
      utcMicros(1950, 6, 15, 11, 0, 0, 1),
      utcMicros(2000, 1, 1),
    ];
    const binaries = [
      Uint8Array.from([0, 1, 255]),
      new Uint8Array(0),
      Buffer.from('☃'),
      Uint8Array.from([92]),
      Uint8Array.from([0]),
      null,
    ];
    // Row 5 is all NULL (the key column aside).
    const full: Table = new Table({
      ord: vectorFromArray([0, 1, 2, 3, 4, 5], new Int32()),
      b: vectorFromArray([true, false, true, false, true, null], new Bool()),
      i1: vectorFromArray([127, -128, 0, -1, 5, null], new Int8()),
      i2: vectorFromArray([32767, -32768, 0, -1, 5, null], new Int16()),
      i4: vectorFromArray([2147483647, -2147483648, 0, -1, 5, null], new Int32()),
      i8: vectorFromArray([2n ** 63n - 1n, -(2n ** 63n), 0n, -1n, 9007199254740993n, null], new Int64()),
      u1: vectorFromArray([255, 0, 1, 2, 3, null], new Uint8()),
      u2: vectorFromArray([65535, 0, 1, 2, 3, null], new Uint16()),
      u4: vectorFromArray([4294967295, 0, 1, 2, 3, null], new Uint32()),
      f4: vectorFromArray([Math.fround(0.1), -Infinity, NaN, Math.fround(-3.4e38), -0, null], new Float32()),
      f8: vectorFromArray([0.1, 1e300, NaN, -0, Number.MIN_VALUE, null], new Float64()),
      s: vectorFromArray(['tab\there', 'new\nline\r\n', 'héllo ☃ 𝄞', '', 'back\\slash', null], new Utf8()),
      vc: vectorFromArray(['v1', 'ü€', '', "O'Brien", 'x', null], new Utf8()),
      ch: vectorFromArray(['ab', 'abcde', '日本', '', 'x', null], new Utf8()),
      dict: vectorFromArray(['a', 'b', 'a', 'c', 'a', null], new Dictionary(new Utf8(), new Int32())),
      bin: vectorFromArray(binaries, new Binary()),
      d: rawVector(new DateDay(), Int32Array.from([...dates.map(dayOf), 0]), [5]),
      ts: rawVector(new TimestampMicrosecond(), BigInt64Array.from([...micros, 0n]), [5]),
      tz: rawVector(new TimestampMicrosecond('UTC'), BigInt64Array.from([...micros, 0n]), [5]),
    });

    // Target types: sqlTypeForArrow's choice, except varchar/char columns fed from Utf8.
    const targetType = (f: Field) =>
      f.name === 'vc' ? 'varchar(12)' : f.name === 'ch' ? 'char(6)' : sqlTypeForArrow(f);

    beforeAll(async () => {
      await client.query(`SET TimeZone = 'UTC'`);
      await client.query(
        `CREATE TABLE arrow_in (${full.schema.fields.map((f) => `${f.name} ${targetType(f)}`).join(', ')})`,
      );
      await copyIn('arrow_in', encodeTable(full));
    });

    it('creates the columns sqlTypeForArrow names', async () => {
      const r = await client.query<{ column_name: string; t: string }>(
        `SELECT a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS t
           FROM pg_attribute a WHERE a.attrelid = 'arrow_in'::regclass AND a.attnum > 0 ORDER BY a.attnum`,
      );
      expect(Object.fromEntries(r.rows.map((x) => [x.column_name, x.t]))).toEqual({
        ord: 'integer',
        b: 'boolean',
        i1: 'smallint',
        i2: 'smallint',
        i4: 'integer',
        i8: 'bigint',
        u1: 'integer',
        u2: 'integer',
        u4: 'bigint',
        f4: 'real',
        f8: 'double precision',
        s: 'text',
        vc: 'character varying(12)',
        ch: 'character(6)',
        dict: 'text',
        d: 'date',
        ts: 'timestamp without time zone',
        tz: 'timestamp with time zone',
        bin: 'bytea',
      });
    });

    it('stores every value and every NULL as written', async () => {
      const r = await client.query(`
        SELECT b, i1, i2, i4, i8::text AS i8, u1, u2, u4::text AS u4, f4::float8 AS f4, f8, s, vc, ch, dict,
               encode(bin, 'hex') AS bin, d::text AS d, ts::text AS ts, tz::text AS tz
          FROM arrow_in ORDER BY ord`);
      const col = (name: string) => r.rows.map((row: Record<string, unknown>) => row[name]);
      expect(col('b')).toEqual([true, false, true, false, true, null]);
      expect(col('i1')).toEqual([127, -128, 0, -1, 5, null]);
      expect(col('i2')).toEqual([32767, -32768, 0, -1, 5, null]);
      expect(col('i4')).toEqual([2147483647, -2147483648, 0, -1, 5, null]);
      expect(col('i8')).toEqual(['9223372036854775807', '-9223372036854775808', '0', '-1', '9007199254740993', null]);
      expect(col('u1')).toEqual([255, 0, 1, 2, 3, null]);
      expect(col('u2')).toEqual([65535, 0, 1, 2, 3, null]);
      expect(col('u4')).toEqual(['4294967295', '0', '1', '2', '3', null]);
      expect(col('f4')).toEqual([Math.fround(0.1), -Infinity, NaN, Math.fround(-3.4e38), -0, null]);
      expect(Object.is(col('f4')[4], -0)).toBe(true);
      expect(col('f8')).toEqual([0.1, 1e300, NaN, -0, Number.MIN_VALUE, null]);
      expect(Object.is(col('f8')[3], -0)).toBe(true);
      expect(col('s')).toEqual(['tab\there', 'new\nline\r\n', 'héllo ☃ 𝄞', '', 'back\\slash', null]);
      expect(col('vc')).toEqual(['v1', 'ü€', '', "O'Brien", 'x', null]);
      expect(col('ch')).toEqual(['ab    ', 'abcde ', '日本    ', '      ', 'x     ', null]);
      expect(col('dict')).toEqual(['a', 'b', 'a', 'c', 'a', null]);
      expect(col('bin')).toEqual(['0001ff', '', 'e29883', '5c', '00', null]);
      // Dates: what JavaScript's own calendar says those day numbers are.
      expect(col('d')).toEqual([...dates.map((iso) => new Date(dayOf(iso) * DAY_MS).toISOString().slice(0, 10)), null]);
      expect(col('d')).toEqual([...dates, null]);
      expect(col('ts')).toEqual([
        '2024-01-01 12:34:56.789012',
        '1969-12-31 23:59:59.999999',
        '1999-12-31 23:59:59.999999',
        '1950-06-15 11:00:00.000001',
        '2000-01-01 00:00:00',
        null,
      ]);
      expect(col('tz')).toEqual([
        '2024-01-01 12:34:56.789012+00',
        '1969-12-31 23:59:59.999999+00',
        '1999-12-31 23:59:59.999999+00',
        '1950-06-15 11:00:00.000001+00',
        '2000-01-01 00:00:00+00',
        null,
      ]);
    });

    it('stores timestamptz as the same instants, shown in any session TimeZone', async () => {
      try {
        await client.query(`SET TimeZone = 'Asia/Kathmandu'`);
        const r = await client.query(
          `SELECT tz::text AS tz, (extract(epoch FROM tz) * 1000000)::int8::text AS us FROM arrow_in ORDER BY ord`,
        );
        expect(r.rows.map((x: Record<string, unknown>) => x.us)).toEqual([...micros.map(String), null]);
        expect(r.rows.map((x: Record<string, unknown>) => x.tz)).toEqual([
          '2024-01-01 18:19:56.789012+05:45',
          '1970-01-01 05:29:59.999999+05:30', // Nepal was on +05:30 until 1986
          '2000-01-01 05:44:59.999999+05:45',
          '1950-06-15 16:30:00.000001+05:30',
          '2000-01-01 05:45:00+05:45',
          null,
        ]);
      } finally {
        await client.query(`SET TimeZone = 'UTC'`);
      }
    });

    it('reads back through COPY TO and the decoder to the Arrow values it started from', async () => {
      const names = full.schema.fields.filter((f) => f.name !== 'bin' && f.name !== 'dict').map((f) => f.name);
      const { values, batches } = await readBack(`SELECT ${names.join(', ')} FROM arrow_in ORDER BY ord`);
      for (const name of names) {
        if (name === 'i1' || name === 'u1' || name === 'u2' || name === 'u4') continue; // widened types
        const original: unknown[] = Array.from({ length: full.numRows }, (_, i) => full.getChild(name)!.get(i));
        // char(6) comes back blank-padded.
        const want = name === 'ch' ? original.map((x) => (x === null ? x : (x as string).padEnd(6))) : original;
        expect(values[name], name).toEqual(want);
      }
      expect(values.u4).toEqual([4294967295n, 0n, 1n, 2n, 3n, null]);
      expect(rawMicros(batches, 'ts')).toEqual([...micros, null]);
      expect(rawMicros(batches, 'tz')).toEqual([...micros, null]);
    });

    it('appends rows fed to COPY FROM in many small chunks', async () => {
      await client.query(`CREATE TABLE chunked (LIKE arrow_in)`);
      const buf = encodeTable(full);
      const pieces = Array.from({ length: Math.ceil(buf.length / 3) }, (_, i) => buf.subarray(i * 3, i * 3 + 3));
      await pipeline(Readable.from(pieces), client.query(copyFrom(`COPY chunked FROM STDIN (FORMAT binary)`)));
      const diff = await client.query(
        `SELECT count(*)::int AS n FROM ((TABLE arrow_in EXCEPT ALL TABLE chunked) UNION ALL (TABLE chunked EXCEPT ALL TABLE arrow_in)) x`,
      );
      expect(diff.rows[0].n).toBe(0);
      expect((await client.query(`SELECT count(*)::int AS n FROM chunked`)).rows[0].n).toBe(6);
    });
  });
});
