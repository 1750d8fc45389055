import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Binary, Decimal, FixedSizeBinary, Table, makeData, makeVector } from 'apache-arrow';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyEncoder } from '../../src/sink/copy-encoding.js';
import { scaledDecimal, sqlTypeForArrow } from '../../src/pg/types.js';
import { keyedLayout } from '../support/sink-layout.js';
import { databaseUrl, query, skipPg, tempSchema } from '../support/pg.js';

// A key type with no binary COPY form (uint64, decimal, fixed-size binary) sends the whole row as
// text COPY. Decimals went unscaled (-500.00 arrived as -50000.00) and bytes escaped twice (a
// bytea key held the text "\x0200..." instead of its bytes), with exit 0.
const N = 4;
const unscaled = [-50_000n, 12_345n, 7n, -99_999_999_999_999_999_999_999_999_999_999_999_999n];
function words(values: bigint[]): Uint32Array {
  const out = new Uint32Array(values.length * 4);
  values.forEach((x, i) => {
    let u = BigInt.asUintN(128, x);
    for (let w = 0; w < 4; w++) {
      out[i * 4 + w] = Number(u & 0xffffffffn);
      u >>= 32n;
    }
  });
  return out;
}
const uuids = Uint8Array.from({ length: N * 16 }, (_, i) => (i * 37 + 92) & 0xff); // 92 is a backslash
const bytes = Uint8Array.of(2, 0, 7, 92, 9, 10, 255);

function batch() {
  return new Table({
    u: makeVector(BigUint64Array.of(0n, 1n, 18_446_744_073_709_551_615n, 42n)),
    d2: makeVector(
      makeData({ type: new Decimal(2, 10, 128), length: N, data: words(unscaled.slice(0, 3).concat(1n)) }),
    ),
    d38: makeVector(makeData({ type: new Decimal(6, 38, 128), length: N, data: words(unscaled) })),
    id16: makeVector(makeData({ type: new FixedSizeBinary(16), length: N, data: uuids })),
    bin: makeVector(
      makeData({ type: new Binary(), length: N, valueOffsets: Int32Array.of(0, 3, 4, 7, 7), data: bytes }),
    ),
  }).batches[0]!;
}

describe('decimal text', () => {
  it('puts the point scale digits from the right', () => {
    expect(scaledDecimal('-50000', 2)).toBe('-500.00');
    expect(scaledDecimal('7', 6)).toBe('0.000007');
    expect(scaledDecimal('-7', 2)).toBe('-0.07');
    expect(scaledDecimal('123', 0)).toBe('123');
    expect(scaledDecimal('123', -2)).toBe('12300');
  });
});

describe.skipIf(skipPg)('keys sent as text COPY', () => {
  let schema: Awaited<ReturnType<typeof tempSchema>>;
  beforeAll(async () => {
    schema = await tempSchema('textkeys');
  });
  afterAll(async () => schema?.drop());

  it('arrive as the values they are: decimals scaled, bytes as bytes', async () => {
    const b = batch();
    const fields = b.schema.fields;
    const enc = copyEncoder(keyedLayout(fields));
    expect(enc.format).toBe('text');
    const table = `${schema.name}.t`;
    await query(
      `CREATE TABLE ${table} (${fields.map((f) => `${f.name} ${sqlTypeForArrow(f)}`).join(', ')}, score double precision)`,
    );
    const body = enc.encode({
      index: 0,
      rows: N,
      keys: fields.map((f) => b.getChild(f.name as 'u')!),
      keep: undefined,
      predictions: [{ column: 'score', sqlType: 'double precision', values: new Float64Array(N) }],
    });
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      await pipeline(
        Readable.from([Buffer.concat([enc.header(), body, enc.trailer()])]),
        client.query(copyFrom(`COPY ${table} FROM STDIN`)),
      );
    } finally {
      await client.end();
    }
    const got = await query<{ u: string; d2: string; d38: string; id16: string; bin: string }>(
      `SELECT u::text, d2::text, d38::text, encode(id16, 'hex') AS id16, encode(bin, 'hex') AS bin FROM ${table}`,
    );
    expect(got.map((r) => r.u)).toEqual(['0', '1', '18446744073709551615', '42']);
    expect(got.map((r) => r.d2)).toEqual(['-500.00', '123.45', '0.07', '0.01']);
    expect(got.map((r) => r.d38)).toEqual([
      '-0.050000',
      '0.012345',
      '0.000007',
      '-99999999999999999999999999999999.999999',
    ]);
    expect(got.map((r) => r.id16)).toEqual(
      Array.from({ length: N }, (_, i) => Buffer.from(uuids.subarray(i * 16, i * 16 + 16)).toString('hex')),
    );
    expect(got.map((r) => r.bin)).toEqual(['020007', '5c', '090aff', '']);
  });
});
