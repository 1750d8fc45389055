import { Field, Int64 } from 'apache-arrow';
import { makeVector } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyEncoder } from '../../src/sink/copy-encoding.js';
import { PostgresSink } from '../../src/sink/postgres.js';
import type { ScoredChunk, SinkLayout } from '../../src/sink/sink.js';
import { newRunRecord } from '../../src/ledger/record.js';
import { databaseUrl, query, skipPg, tempSchema } from '../support/pg.js';

// The metadata every row of a run shares (partition, run id, scoring time, and the model when one
// scores every row) is not sent with each row: while the run's table loads it is that table's
// column defaults, and before the publish its defaults are put back as the top table has them.
// Routed rows still carry their own model. The rows must read exactly as if every value had been
// sent.
const id = new Field('id', new Int64(), false);
const layoutOf = (over: Partial<SinkLayout>): SinkLayout => ({
  job: 'defaults_job',
  shard: { index: 0, count: 1 },
  keyFields: [id],
  outputs: [{ column: 'score', output: 'y', sqlType: 'double precision' }],
  modelName: 'a+b',
  modelVersion: 'v-ab',
  models: [
    { name: 'a', version: 'v-a' },
    { name: 'b', version: 'v-b' },
  ],
  partition: '2024-01-01',
  runId: 'run-1',
  scoredAt: new Date('2026-11-27T10:11:12.345Z'),
  ...over,
});

const chunk = (n: number, from: number, modelIndex?: Uint8Array): ScoredChunk => ({
  index: 0,
  rows: n,
  keys: [makeVector(BigInt64Array.from({ length: n }, (_, i) => BigInt(from + i)))],
  keep: undefined,
  predictions: [
    { column: 'score', sqlType: 'double precision', values: Float64Array.from({ length: n }, (_, i) => i / 8) },
  ],
  ...(modelIndex ? { modelIndex } : {}),
});

describe('COPY fields per row', () => {
  const fieldCount = (layout: SinkLayout) => {
    const body = copyEncoder(layout).encode(chunk(1, 7));
    return body.readInt16BE(0);
  };
  it('sends the key and the predictions only, where one model scores every row', () => {
    expect(fieldCount(layoutOf({}))).toBe(2);
  });
  it("sends each routed row's model name and version too", () => {
    expect(fieldCount(layoutOf({ routed: true }))).toBe(4);
  });
});

describe.skipIf(skipPg)('the run table while it loads and once published', () => {
  let schema: { name: string; drop(): Promise<void> };
  beforeAll(async () => {
    schema = await tempSchema('run_defaults');
  });
  afterAll(async () => schema.drop());

  async function run(
    table: string,
    layout: SinkLayout,
    write: (sink: PostgresSink) => Promise<void>,
    url = databaseUrl,
  ) {
    const sink = new PostgresSink({ url, schema: schema.name, table }, layout);
    const record = newRunRecord({
      run_id: layout.runId,
      job: layout.job,
      partition: layout.partition,
      shard: '0/1',
      params: {},
      model_name: layout.modelName,
      model_version: layout.modelVersion,
      model_sha256: '-',
      started_at: new Date().toISOString(),
    });
    try {
      await sink.begin(record);
      await write(sink);
      record.status = 'succeeded';
      await sink.publish(record);
    } finally {
      await sink.close();
    }
  }

  /** Column defaults of every table of `table`'s tree below the top. */
  const leafDefaults = (table: string) =>
    query<{ attname: string; dflt: string }>(
      `SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) AS dflt FROM pg_attrdef d
         JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
        WHERE d.adrelid IN (SELECT relid FROM pg_partition_tree('${schema.name}.${table}') WHERE level > 0)
        ORDER BY 1`,
    );

  it('every row reads the run metadata; no default is left on the published tables', async () => {
    const layout = layoutOf({});
    await run('plain', layout, async (sink) => {
      await sink.write(chunk(1000, 0));
      await sink.write(chunk(500, 1000));
    });
    const rows = await query<Record<string, string>>(
      `SELECT count(*) AS n, count(DISTINCT id) AS ids, min(partition) AS p, max(partition) AS p2, min(run_id) AS r, max(run_id) AS r2,
              min(model_name) AS m, max(model_name) AS m2, min(model_version) AS v, max(model_version) AS v2,
              min(scored_at)::text AS t, max(scored_at)::text AS t2 FROM ${schema.name}.plain`,
    );
    expect(rows[0]).toEqual({
      n: '1500',
      ids: '1500',
      p: '2024-01-01',
      p2: '2024-01-01',
      r: 'run-1',
      r2: 'run-1',
      m: 'a+b',
      m2: 'a+b',
      v: 'v-ab',
      v2: 'v-ab',
      t: '2026-11-27 10:11:12.345+00',
      t2: '2026-11-27 10:11:12.345+00',
    });
    expect(await leafDefaults('plain')).toEqual([]);
  });

  it("routed rows carry their own model; the partition's other rows the run's values", async () => {
    await run('routed', layoutOf({ routed: true, runId: 'run-routed' }), (sink) =>
      sink.write(chunk(4, 0, Uint8Array.of(0, 1, 1, 0))),
    );
    const rows = await query(
      `SELECT id::int, model_name, model_version, partition, run_id FROM ${schema.name}.routed ORDER BY id`,
    );
    expect(rows).toEqual(
      [0, 1, 1, 0].map((m, i) => ({
        id: i,
        model_name: ['a', 'b'][m],
        model_version: ['v-a', 'v-b'][m],
        partition: '2024-01-01',
        run_id: 'run-routed',
      })),
    );
    expect(await leafDefaults('routed')).toEqual([]);
  });

  it('values with backslashes and quotes arrive as they are, standard_conforming_strings on or off', async () => {
    for (const scs of ['on', 'off']) {
      const url = `${databaseUrl}${databaseUrl.includes('?') ? '&' : '?'}options=-c%20standard_conforming_strings%3D${scs}`;
      const layout = layoutOf({ runId: `run-bs-${scs}`, partition: "a\\b'c", modelVersion: 'C:\\models\\v1' });
      await run(`bs_${scs}`, layout, (sink) => sink.write(chunk(3, 0)), url);
      expect(await query(`SELECT DISTINCT partition, model_version, run_id FROM ${schema.name}.bs_${scs}`)).toEqual([
        { partition: "a\\b'c", model_version: 'C:\\models\\v1', run_id: `run-bs-${scs}` },
      ]);
    }
  });

  it("a default the table's owner set on the top table is what the published run table has", async () => {
    await run('owned', layoutOf({ runId: 'run-owned-1' }), (sink) => sink.write(chunk(2, 0)));
    await query(`ALTER TABLE ${schema.name}.owned ALTER COLUMN scored_at SET DEFAULT now()`);
    await run('owned', layoutOf({ runId: 'run-owned-2', scoredAt: new Date('2026-11-28T00:00:00Z') }), (sink) =>
      sink.write(chunk(2, 0)),
    );
    expect(await query(`SELECT DISTINCT run_id, scored_at::text AS t FROM ${schema.name}.owned`)).toEqual([
      { run_id: 'run-owned-2', t: '2026-11-28 00:00:00+00' },
    ]);
    // The partition's table was created with the top table's default (ATTACH), the new run's table has it back.
    expect((await leafDefaults('owned')).map((d) => `${d.attname} ${d.dflt}`)).toEqual([
      'scored_at now()',
      'scored_at now()',
    ]);
  });
});
