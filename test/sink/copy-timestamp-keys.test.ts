import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  Table,
  TimestampMicrosecond,
  TimestampNanosecond,
  makeData,
  makeVector,
  tableFromIPC,
  tableToIPC,
} from 'apache-arrow';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyEncoder } from '../../src/sink/copy-encoding.js';
import { keyedLayout } from '../support/sink-layout.js';
import { databaseUrl, query, skipPg, tempSchema } from '../support/pg.js';

// Timestamp keys reach Postgres as stored, to the microsecond: read through get() they were
// numbers of milliseconds (a key's microseconds lost, values past 2^53 units wrong), so a run
// wrote keys that matched no source row, with exit 0. Binary COPY, and text COPY (a uint64 key
// has no binary form, so the whole row goes as text), every row and only kept rows.
const N = 6;
const us = BigInt64Array.of(1_704_067_200_000_001n, -2_208_988_799_999_985n, -1n, 0n, 253_402_300_799_999_999n, 999n);
// Nanoseconds past 2^53, and negative ones that floor to the microsecond below.
const ns = BigInt64Array.of(9_007_199_254_740_993_123n, -1n, -1001n, 1_999n, 0n, 1_704_067_200_000_001_999n);
const usOfNs = Array.from(ns, (x) => (x >= 0n ? x / 1000n : -((-x + 999n) / 1000n)));
const valid = [true, true, true, false, true, true];
const bitmap = Uint8Array.of(valid.reduce((b, v, i) => b | (v ? 1 << i : 0), 0));
// A bigint key beside them, written straight from its buffer (past 2^53 too).
const ids = BigInt64Array.of(9_007_199_254_740_993n, -5n, 7n, 0n, -9_007_199_254_740_993n, 42n);

function batch() {
  const t = new Table({
    k_us: makeVector(
      makeData({ type: new TimestampMicrosecond(), length: N, nullCount: 1, nullBitmap: bitmap, data: us }),
    ),
    k_ns: makeVector(makeData({ type: new TimestampNanosecond(), length: N, data: ns })),
    k_u64: makeVector(BigUint64Array.from({ length: N }, (_, i) => BigInt(i))),
    id: makeVector(ids),
  });
  return tableFromIPC(tableToIPC(t, 'stream')).batches[0]!;
}

const layout = keyedLayout;

describe.skipIf(skipPg)('timestamp keys into Postgres', () => {
  let schema: Awaited<ReturnType<typeof tempSchema>>;
  beforeAll(async () => {
    schema = await tempSchema('tskeys');
  });
  afterAll(async () => schema?.drop());

  // A batch cut past its first row (a slice: its offset applies to the null bitmap only).
  for (const text of [false, true])
    for (const { keep, from } of [
      { keep: undefined, from: 0 },
      { keep: Uint32Array.of(1, 2, 4, 5), from: 0 },
      { keep: undefined, from: 1 },
      { keep: Uint32Array.of(0, 2, 3), from: 1 },
    ]) {
      it(`arrive to the microsecond (${text ? 'text' : 'binary'} COPY, ${keep ? 'kept rows' : 'all rows'}${from ? ', of a slice' : ''})`, async () => {
        const b = batch().slice(from);
        const names = ['k_us', 'k_ns', 'id', ...(text ? ['k_u64'] : [])];
        const fields = names.map((n) => b.schema.fields.find((f) => f.name === n)!);
        const enc = copyEncoder(layout(fields));
        expect(enc.format).toBe(text ? 'text' : 'binary');
        const rows = keep ? keep.length : N - from;
        const table = `${schema.name}.t_${text ? 'text' : 'bin'}_${keep ? 'keep' : 'all'}_${from}`;
        await query(
          `CREATE TABLE ${table} (k_us timestamp, k_ns timestamp, id bigint, ${text ? 'k_u64 numeric,' : ''} score double precision)`,
        );
        const bytes = Buffer.concat([
          enc.header(),
          enc.encode({
            index: 0,
            rows,
            keys: names.map((n) => b.getChild(n)!),
            keep,
            predictions: [{ column: 'score', sqlType: 'double precision', values: new Float64Array(rows) }],
          }),
          enc.trailer(),
        ]);
        const client = new pg.Client({ connectionString: databaseUrl });
        await client.connect();
        try {
          await pipeline(
            Readable.from([bytes]),
            client.query(copyFrom(`COPY ${table} FROM STDIN${text ? '' : ' (FORMAT binary)'}`)),
          );
        } finally {
          await client.end();
        }
        const got = await query<{ us: string | null; ns: string; id: string }>(
          `SELECT ((extract(epoch from k_us) * 1000000)::numeric(30,0))::text AS us, ((extract(epoch from k_ns) * 1000000)::numeric(30,0))::text AS ns, id::text AS id FROM ${table}`,
        );
        // Rows of the original batch.
        const at = (keep ? Array.from(keep) : Array.from({ length: N - from }, (_, i) => i)).map((i) => i + from);
        expect(got.map((r) => r.us)).toEqual(at.map((i) => (valid[i] ? String(us[i]) : null)));
        expect(got.map((r) => r.ns)).toEqual(at.map((i) => String(usOfNs[i])));
        expect(got.map((r) => r.id)).toEqual(at.map((i) => String(ids[i])));
      });
    }
});
