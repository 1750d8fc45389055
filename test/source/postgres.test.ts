import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { scanPostgres } from '../../src/source/postgres.js';
import { rewriteParams } from '../../src/source/query-params.js';
import { databaseUrl, query, skipPg, tempSchema } from '../support/pg.js';

describe('query parameters', () => {
  it('finds :name outside literals, identifiers, comments and casts', () => {
    const r = rewriteParams(
      `select ':no', "a:b", x::text, $$:no$$ -- :no\n from t where ds = :ds and r = :region /* :no */ and d2 = :ds`,
      (n) => `<${n}>`,
    );
    expect(r.names).toEqual(['ds', 'region']);
    expect(r.sql).toBe(
      `select ':no', "a:b", x::text, $$:no$$ -- :no\n from t where ds = <ds> and r = <region> /* :no */ and d2 = <ds>`,
    );
  });
});

describe.skipIf(skipPg)('Postgres source (real server)', () => {
  let schema: { name: string; drop(): Promise<void> };
  beforeAll(async () => {
    schema = await tempSchema('src_pg');
    await query(`CREATE TABLE ${schema.name}.t (
      i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision, num numeric(12,4), b boolean,
      s text, v varchar(20), c char(3), d date, ts timestamp, tz timestamptz, region text, ds date)`);
    await query(`INSERT INTO ${schema.name}.t VALUES
      (1, 100000, 9007199254740993, 1.5, 2.25, -1234.5678, true, 'héllo', 'v1', 'ab', '2024-02-29', '2024-01-01 12:34:56.789012', '2024-01-01 00:00:00+02', 'eu', '2024-01-01'),
      (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'eu', '2024-01-01'),
      (-3, -4, -5, -0.5, 1e300, 0.0001, false, E'tab\\there', '', 'x', '1999-12-31', '1970-01-01 00:00:00', '2030-06-15 08:00:00+00', 'us', '2024-01-01'),
      (7, 7, 7, 7, 7, 7, true, 'O''Brien', 'v', 'z', '2024-01-02', '2024-01-02 00:00:00', '2024-01-02 00:00:00+00', 'eu', '2024-01-02')`);
    await query(
      `CREATE TABLE ${schema.name}.big AS SELECT g AS id, g * 0.5 AS x, md5(g::text) AS s FROM generate_series(1, 25000) g`,
    );
  });
  afterAll(() => schema.drop());

  async function readAll(sql: string, params: Record<string, string>, batchSize = 1000) {
    const scanned = await scanPostgres({ url: databaseUrl, query: sql }, { batchSize, params });
    const source = scanned.open(scanned.schema.fields.map((f) => f.name));
    const batches = [];
    for await (const b of source.batches()) batches.push(b);
    return { schema: scanned.schema, batches, rows: batches.flatMap((b) => b.toArray().map((r) => r.toJSON())) };
  }

  it('reads every supported type, NULLs included, with bound :parameters', async () => {
    const r = await readAll(
      `SELECT i2, i4, i8, f4, f8, num, b, s, v, c, d, ts, tz FROM ${schema.name}.t WHERE ds = :ds AND region = ANY(string_to_array(:regions, ',')) ORDER BY i4 NULLS LAST`,
      { ds: '2024-01-01', regions: 'eu,us' },
    );
    expect(r.schema.fields.map((f) => `${f.name}:${f.type}`)).toEqual([
      'i2:Int16',
      'i4:Int32',
      'i8:Int64',
      'f4:Float32',
      'f8:Float64',
      'num:Float64',
      'b:Bool',
      's:Utf8',
      'v:Utf8',
      'c:Utf8',
      'd:Date32<DAY>',
      'ts:Timestamp<MICROSECOND>',
      'tz:Timestamp<MICROSECOND, UTC>',
    ]);
    expect(r.rows.length).toBe(3);
    const [neg, pos, nul] = r.rows;
    expect(pos).toMatchObject({
      i2: 1,
      i4: 100000,
      i8: 9007199254740993n,
      f4: 1.5,
      f8: 2.25,
      num: -1234.5678,
      b: true,
      s: 'héllo',
      v: 'v1',
      c: 'ab ',
    }); // char(3) keeps its padding, as Postgres sends it
    expect(new Date(pos!.d as number).toISOString()).toBe('2024-02-29T00:00:00.000Z');
    expect(pos!.ts).toBeCloseTo(Date.UTC(2024, 0, 1, 12, 34, 56, 789) + 0.012, 3); // microseconds survive
    expect(new Date(pos!.tz as number).toISOString()).toBe('2023-12-31T22:00:00.000Z');
    expect(neg).toMatchObject({
      i2: -3,
      i4: -4,
      i8: -5n,
      f4: -0.5,
      f8: 1e300,
      num: 0.0001,
      b: false,
      s: 'tab\there',
      v: '',
      c: 'x  ',
    });
    expect(new Date(neg!.d as number).toISOString()).toBe('1999-12-31T00:00:00.000Z');
    expect(Object.values(nul!).every((v) => v === null)).toBe(true);
  });

  it('binds values, never splices them (a quote in a value is data)', async () => {
    const r = await readAll(`SELECT i4 FROM ${schema.name}.t WHERE s = :name`, { name: "O'Brien" });
    expect(r.rows).toEqual([{ i4: 7 }]);
    const none = await readAll(`SELECT i4 FROM ${schema.name}.t WHERE s = :name`, { name: "x' OR '1'='1" });
    expect(none.rows).toEqual([]);
  });

  it('streams in batches of at most batch_size rows', async () => {
    const r = await readAll(`SELECT id, x, s FROM ${schema.name}.big`, {}, 1000);
    expect(r.batches.length).toBe(25);
    expect(Math.max(...r.batches.map((b) => b.numRows))).toBe(1000);
    expect(r.rows.length).toBe(25000);
  });

  it('names a column of an unsupported type, and a missing parameter', async () => {
    await expect(
      scanPostgres(
        { url: databaseUrl, query: `SELECT i4, '{}'::jsonb AS j FROM ${schema.name}.t` },
        { batchSize: 10, params: {} },
      ),
    ).rejects.toMatchObject({
      constructor: UsageError,
      message:
        'source: column "j" has type jsonb, which mlscale does not read; cast it in the query (for example j::text or j::float8).',
    });
    await expect(
      scanPostgres(
        { url: databaseUrl, query: `SELECT i4 FROM ${schema.name}.t WHERE ds = :day` },
        { batchSize: 10, params: { ds: '2024-01-01' } },
      ),
    ).rejects.toThrow(
      'source.postgres.query: parameter :day has no value (known: ds); add it under params: or pass --param day=VALUE.',
    );
    await expect(scanPostgres({ url: databaseUrl, query: `SELEC 1` }, { batchSize: 10, params: {} })).rejects.toThrow(
      /^source\.postgres\.query: Postgres rejected the query \(syntax error at or near ".+"\); fix the SQL\.$/,
    );
  });
});
