import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRunTable,
  createTree,
  ensurePartitionTable,
  indexRunTable,
  swapRunTables,
} from '../../src/sink/pg-tree.js';
import { databaseUrl, skipPg, tempSchema } from '../support/pg.js';

// The run's table is indexed before the publish attaches it (the attach would build a missing
// index under its lock): on the columns of the index the top table has, which is the key alone
// for a tree made now and (partition, key…) for one made by an earlier mlscale.
describe.skipIf(skipPg)('the index of the prediction table and of each run table', () => {
  let schema: { name: string; drop(): Promise<void> };
  let client: pg.Client;
  const policy = { timeoutMs: 2000, attempts: 1 };
  const cols = [
    { name: 'cust_id', type: 'bigint', notNull: false },
    { name: 'region', type: 'text', notNull: false },
    { name: 'score', type: 'real', notNull: false },
    { name: 'partition', type: 'text', notNull: true },
    { name: 'run_id', type: 'text', notNull: true },
  ];

  beforeAll(async () => {
    schema = await tempSchema('tree_index');
    client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
  });
  afterAll(async () => {
    await client.end();
    await schema.drop();
  });

  /** Each index on `table` (no schema) as its column list, e.g. "(cust_id, region)". */
  const indexesOf = async (table: string) =>
    (
      await client.query(
        `SELECT regexp_replace(indexdef, '^.* USING btree ', '') AS cols FROM pg_indexes
          WHERE schemaname = $1 AND tablename = $2 ORDER BY indexname`,
        [schema.name, table],
      )
    ).rows.map((r) => r.cols as string);

  async function inTransaction(fn: () => Promise<unknown>) {
    await client.query('BEGIN');
    await fn();
    await client.query('COMMIT');
  }

  /** One run's table of `table`, indexed and published: its indexes before and after the attach. */
  async function runTableIndexes(table: string, runId: string, keys: string[]) {
    const t = { schema: schema.name, table };
    await client.query('BEGIN');
    await createRunTable(client, t, '2024-01-01', runId);
    await indexRunTable(client, t, runId, keys);
    const { rows } = await client.query(
      `SELECT c.relname FROM pg_class c WHERE c.relnamespace = $1::regnamespace AND c.relname LIKE $2 AND c.relkind = 'r' AND NOT c.relispartition`,
      [schema.name, `${table}\\_r%`],
    );
    const before = await indexesOf(rows[0]!.relname);
    await swapRunTables(client, t, '2024-01-01', runId, async () => [], policy);
    await client.query('COMMIT');
    return { before, after: await indexesOf(rows[0]!.relname), name: rows[0]!.relname as string };
  }

  it('a new tree is indexed on its key alone; a run table gets that index before it is attached, and the attach adopts it', async () => {
    const t = { schema: schema.name, table: 'scores' };
    await inTransaction(async () => {
      await createTree(client, t, cols, ['cust_id', 'region']);
      await ensurePartitionTable(client, t, '2024-01-01', policy);
    });
    expect(await indexesOf('scores')).toEqual(['(cust_id, region)']);
    const { before, after, name } = await runTableIndexes('scores', 'run-1', ['cust_id', 'region']);
    expect(before).toEqual(['(cust_id, region)']);
    expect(after).toEqual(before); // adopted, not built again beside it
    const parent = await client.query(
      `SELECT i.inhparent::regclass::text AS parent FROM pg_inherits i
         WHERE i.inhrelid = (SELECT indexrelid FROM pg_index WHERE indrelid = to_regclass($1))`,
      [`${schema.name}.${name}`],
    );
    expect(parent.rows).toHaveLength(1);
    // A lookup by partition and key reads the run table's index.
    await client.query(
      `INSERT INTO ${schema.name}.scores SELECT g, 'r', 0.5, '2024-01-01', 'run-1' FROM generate_series(1, 5000) g`,
    );
    await client.query(`ANALYZE ${schema.name}.scores`);
    const plan = await client.query(
      `EXPLAIN (COSTS OFF) SELECT score FROM ${schema.name}.scores WHERE partition = '2024-01-01' AND cust_id = 42`,
    );
    expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/Index (Only )?Scan|Bitmap Index Scan/);
  });

  it('a tree made with the (partition, key) index keeps it: its run tables get the same columns', async () => {
    const t = { schema: schema.name, table: 'legacy' };
    await client.query(
      `CREATE TABLE ${schema.name}.legacy (cust_id bigint, region text, score real, partition text NOT NULL, run_id text NOT NULL) PARTITION BY LIST (partition)`,
    );
    await client.query(`CREATE INDEX legacy_partition_key_idx ON ${schema.name}.legacy (partition, cust_id, region)`);
    await inTransaction(() => ensurePartitionTable(client, t, '2024-01-01', policy));
    const { before, after } = await runTableIndexes('legacy', 'run-1', ['cust_id', 'region']);
    expect(before).toEqual(['(partition, cust_id, region)']);
    expect(after).toEqual(before);
  });

  it("a table whose key index name is taken (another table's legacy index) still gets its index, and its run tables theirs", async () => {
    await client.query(`CREATE TABLE ${schema.name}.other (id bigint)`);
    await client.query(`CREATE INDEX taken_key_idx ON ${schema.name}.other (id)`);
    const t = { schema: schema.name, table: 'taken' };
    await inTransaction(async () => {
      await createTree(client, t, cols, ['cust_id']);
      await ensurePartitionTable(client, t, '2024-01-01', policy);
    });
    expect(await indexesOf('taken')).toEqual(['(cust_id)']);
    const { before, after } = await runTableIndexes('taken', 'run-1', ['cust_id']);
    expect(before).toEqual(['(cust_id)']);
    expect(after).toEqual(before);
  });

  it('a job without a key gets no index, on the tree or its run tables', async () => {
    const t = { schema: schema.name, table: 'keyless' };
    await inTransaction(async () => {
      await createTree(client, t, cols, []);
      await ensurePartitionTable(client, t, '2024-01-01', policy);
    });
    expect(await indexesOf('keyless')).toEqual([]);
    const { before, after } = await runTableIndexes('keyless', 'run-1', []);
    expect(before).toEqual([]);
    expect(after).toEqual([]);
  });
});
