import { createHash } from 'node:crypto';
import type { ClientBase } from 'pg';
import { UsageError } from '../errors.js';
import { CHECKPOINTS_TABLE, stageTable } from '../output/tables.js';
import { relationExists } from '../pg/catalog.js';
import { ident, literal, qualified } from '../pg/sql.js';
import { underLockTimeout, type LockPolicy } from '../pg/lock-timeout.js';

// The prediction table is a tree: LIST-partitioned on `partition`, each partition value's table
// LIST-partitioned on `run_id`, each run's rows in a table of their own. A run loads its own table
// while nothing can see it, and publishing attaches it and drops the tables of the runs it
// replaces: no DELETE, so no dead rows, and the cost of a re-run does not grow with the rows it
// replaces. Analysts query the top table as before; `WHERE partition = ...` prunes to one value.

/** The table of one table's partition and of one run's rows: the sink's name and a hash, within 63 bytes. */
const tag = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 10);
export const partitionTable = (table: string, partition: string) => `${table}_p${tag(partition)}`;
export const runTable = (table: string, runId: string) => `${table}_r${tag(runId)}`;

export interface TableRef {
  readonly schema: string;
  readonly table: string;
}

export interface ColumnDef {
  readonly name: string;
  readonly type: string;
  readonly notNull: boolean;
  readonly collation?: string | undefined;
  /** The column's DEFAULT expression: rows COPYed without the column get it in a run's table too. */
  readonly default?: string | undefined;
}

const columnsSql = (cols: readonly ColumnDef[]) =>
  cols
    .map(
      (c) =>
        `${ident(c.name)} ${c.type}${c.collation ? ` COLLATE ${c.collation}` : ''}${c.default ? ` DEFAULT ${c.default}` : ''}${c.notNull ? ' NOT NULL' : ''}`,
    )
    .join(', ');

/** A table's columns in order, as a partition must repeat them (types, NOT NULL, collations). */
export async function tableColumnsOf(client: ClientBase, table: string): Promise<ColumnDef[]> {
  const res = await client.query(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
            CASE WHEN a.attcollation <> t.typcollation THEN
              (SELECT quote_ident(n.nspname) || '.' || quote_ident(c.collname)
                 FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace WHERE c.oid = a.attcollation)
            END AS collation,
            (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum) AS dflt
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [table],
  );
  return res.rows.map((r) => ({
    name: r.name,
    type: r.type,
    notNull: r.not_null,
    collation: r.collation ?? undefined,
    default: r.dflt ?? undefined,
  }));
}

/** 'p' partitioned, 'r' a plain table (an earlier mlscale's, or the user's), other kinds, or undefined. */
export async function tableKind(client: ClientBase, table: string): Promise<string | undefined> {
  const res = await client.query('SELECT relkind FROM pg_class WHERE oid = to_regclass($1)', [table]);
  return res.rows[0]?.relkind;
}

/**
 * The index mlscale puts on the top table: on the key alone, since below the top every table holds
 * one partition value and `WHERE partition = ...` prunes to it. Trees made by an earlier mlscale have it on
 * `(partition, key…)` under the legacy name, and keep it.
 */
const keyIndexName = (table: string) => `${table}_key_idx`;
const legacyIndexName = (table: string) => `${table}_partition_key_idx`;

/**
 * Gives a table mlscale just created to the prediction table's owner: a run by any member of the
 * owning role must be able to attach to and drop it later, which only its owner may do.
 */
async function ownLikeTop(client: ClientBase, t: TableRef, created: string): Promise<void> {
  const res = await client.query(
    `SELECT c.relowner::regrole::text AS owner, c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user) AS other
       FROM pg_class c WHERE c.oid = to_regclass($1)`,
    [qualified(t.schema, t.table)],
  );
  const r = res.rows[0] as { owner: string; other: boolean } | undefined;
  if (r?.other) await client.query(`ALTER TABLE ${created} OWNER TO ${r.owner}`);
}

/** The top of the tree, with the index lookups by key use (none for a job without a key). */
export async function createTree(
  client: ClientBase,
  t: TableRef,
  cols: readonly ColumnDef[],
  keys: readonly string[],
): Promise<void> {
  const table = qualified(t.schema, t.table);
  await client.query(`CREATE TABLE ${table} (${columnsSql(cols)}) PARTITION BY LIST (partition)`);
  if (keys.length === 0) return;
  // Named for the table where that name is free; otherwise the server's own choice (the run
  // tables' indexes are found by their columns, indexRunTable).
  const named = await client.query('SELECT to_regclass($1) IS NULL AS free', [
    qualified(t.schema, keyIndexName(t.table)),
  ]);
  const name = named.rows[0]?.free ? `${ident(keyIndexName(t.table))} ` : '';
  await client.query(`CREATE INDEX ${name}ON ${table} (${keys.map(ident).join(', ')})`);
}

/**
 * The table of one partition value, created and attached when missing. Attaching takes SHARE
 * UPDATE EXCLUSIVE on the top table: readers go on, other runs' attaches wait their turn.
 */
export async function ensurePartitionTable(
  client: ClientBase,
  t: TableRef,
  partition: string,
  policy: LockPolicy,
  signal?: AbortSignal,
): Promise<void> {
  const table = qualified(t.schema, t.table);
  const mid = qualified(t.schema, partitionTable(t.table, partition));
  const attached = await client.query(
    `SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass($1) AND inhparent = to_regclass($2)`,
    [mid, table],
  );
  if (attached.rowCount) return;
  const cols = await tableColumnsOf(client, table);
  await client.query(`CREATE TABLE IF NOT EXISTS ${mid} (${columnsSql(cols)}) PARTITION BY LIST (run_id)`);
  await ownLikeTop(client, t, mid);
  await client.query(
    `COMMENT ON TABLE ${mid} IS ${literal(`Partition ${partition} of ${t.schema}.${t.table} (mlscale).`)}`,
  );
  await underLockTimeout(
    client,
    policy,
    { action: `add partition ${partition} to ${t.schema}.${t.table}`, relations: [table] },
    () => client.query(`ALTER TABLE ${table} ATTACH PARTITION ${mid} FOR VALUES IN (${literal(partition)})`),
    signal,
  );
}

/**
 * A run's own table, outside the tree until it publishes. Its CHECK states the partition
 * constraint, so attaching it needs no scan of its rows.
 */
export async function createRunTable(client: ClientBase, t: TableRef, partition: string, runId: string): Promise<void> {
  const cols = await tableColumnsOf(client, qualified(t.schema, t.table));
  const table = qualified(t.schema, runTable(t.table, runId));
  await client.query(
    `CREATE TABLE ${table} (${columnsSql(cols)},
       CONSTRAINT mlscale_run CHECK (partition = ${literal(partition)} AND run_id = ${literal(runId)}))`,
  );
  await ownLikeTop(client, t, table);
}

/**
 * While the run's table loads, the columns every row of the run has the same value in (the
 * partition, the run id, the scoring time, the model where one scores every row) are its column
 * defaults, and the COPY leaves them out: 80 of a row's 106 bytes with one key and one score,
 * half the server's COPY time (1M rows: 0.66-0.69 s against 1.28-1.44 s). Set again for each
 * attempt on the table: a resumed run's rows get its own scoring time, as before.
 */
export async function setRunDefaults(
  client: ClientBase,
  t: TableRef,
  runId: string,
  constants: readonly { column: string; value: string | Date }[],
): Promise<void> {
  if (constants.length === 0) return;
  const set = constants.map(
    ({ column, value }) =>
      `ALTER COLUMN ${ident(column)} SET DEFAULT ${literal(value instanceof Date ? value.toISOString() : value)}`,
  );
  await client.query(`ALTER TABLE ${qualified(t.schema, runTable(t.table, runId))} ${set.join(', ')}`);
}

/** Before the publish: those columns' defaults as the top table has them (none, or the owner's own). */
export async function restoreRunDefaults(
  client: ClientBase,
  t: TableRef,
  runId: string,
  columns: readonly string[],
): Promise<void> {
  if (columns.length === 0) return;
  const top = new Map((await tableColumnsOf(client, qualified(t.schema, t.table))).map((c) => [c.name, c.default]));
  const reset = columns.map((c) => {
    const dflt = top.get(c);
    return `ALTER COLUMN ${ident(c)} ${dflt ? `SET DEFAULT ${dflt}` : 'DROP DEFAULT'}`;
  });
  await client.query(`ALTER TABLE ${qualified(t.schema, runTable(t.table, runId))} ${reset.join(', ')}`);
}

export async function runTableExists(client: ClientBase, t: TableRef, runId: string): Promise<boolean> {
  return relationExists(client, qualified(t.schema, runTable(t.table, runId)));
}

/**
 * Built before attaching, so the attach finds the partition's index ready instead of building it
 * under its lock: each plain index of the top table on the key's columns (a tree made now) or on
 * `(partition, key…)` (a tree an earlier mlscale made), whatever its name; none where it has none.
 */
export async function indexRunTable(client: ClientBase, t: TableRef, runId: string, keys: readonly string[]) {
  if (keys.length === 0) return;
  const res = await client.query(
    `SELECT array_agg(a.attname::text ORDER BY k.n) AS cols
       FROM pg_index i CROSS JOIN unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = to_regclass($1) AND NOT i.indisunique AND i.indpred IS NULL
        AND i.indexprs IS NULL AND (SELECT amname FROM pg_am m JOIN pg_class c ON c.relam = m.oid WHERE c.oid = i.indexrelid) = 'btree'
        AND 0 = ALL(i.indoption::int2[])
      GROUP BY i.indexrelid ORDER BY i.indexrelid`,
    [qualified(t.schema, t.table)],
  );
  const wanted = [keys.join('\0'), ['partition', ...keys].join('\0')];
  const found = new Set<string>();
  for (const { cols } of res.rows as { cols: string[] }[]) {
    const id = cols.join('\0');
    if (!wanted.includes(id) || found.has(id)) continue;
    found.add(id);
    await client.query(
      `CREATE INDEX ON ${qualified(t.schema, runTable(t.table, runId))} (${cols.map(ident).join(', ')})`,
    );
  }
}

/**
 * Publishes a run's table in place of the tables of `replaced` runs, within the caller's
 * transaction: attach (SHARE UPDATE EXCLUSIVE on the partition's table), then drop (ACCESS
 * EXCLUSIVE on it, for an instant), each asked for under the lock policy so readers never queue
 * behind the request for longer than its timeout.
 */
export async function swapRunTables(
  client: ClientBase,
  t: TableRef,
  partition: string,
  runId: string,
  replaced: () => Promise<readonly string[]>,
  policy: LockPolicy,
  signal?: AbortSignal,
): Promise<void> {
  const mid = qualified(t.schema, partitionTable(t.table, partition));
  await underLockTimeout(
    client,
    policy,
    // Readers of the partition hold its table (and the run tables under it): naming it names them.
    { action: `publish partition ${partition} of ${t.schema}.${t.table}`, relations: [mid] },
    async () => {
      await client.query(
        `ALTER TABLE ${mid} ATTACH PARTITION ${qualified(t.schema, runTable(t.table, runId))} FOR VALUES IN (${literal(runId)})`,
      );
      // Asked only now: the attach waited for any other publish into this partition to commit,
      // so what that one published is seen here, and is replaced or kept as it should be.
      const names = (await replaced()).filter((id) => id !== runId).map((id) => runTable(t.table, id));
      const live = await client.query(
        `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = to_regclass($1) AND c.relname = ANY($2::text[])`,
        [mid, names],
      );
      for (const r of live.rows) await client.query(`DROP TABLE IF EXISTS ${qualified(t.schema, r.relname)}`);
    },
    signal,
  );
}

/** Tables of runs that never published (killed, failed, abandoned): nobody reads them, nobody will resume them. */
export async function dropUnpublished(client: ClientBase, t: TableRef, runIds: readonly string[]): Promise<void> {
  const res = await client.query(
    `SELECT relname FROM pg_class WHERE relnamespace = to_regnamespace($1) AND relname = ANY($2::text[]) AND NOT relispartition AND relkind = 'r'`,
    [t.schema, runIds.map((id) => runTable(t.table, id))],
  );
  for (const r of res.rows) await client.query(`DROP TABLE ${qualified(t.schema, r.relname)}`);
}

/**
 * What a partitioned table cannot take over from a plain one, named so the user can decide: keys
 * and unique constraints (they would have to include the partition and the run), identity
 * columns, column privileges, rows without a partition or a run.
 */
async function refuseWhatCannotMove(client: ClientBase, t: TableRef): Promise<void> {
  const table = qualified(t.schema, t.table);
  const r = (
    await client.query(
      `SELECT (SELECT string_agg(conname, ', ') FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype IN ('p', 'u', 'f', 'x')) AS constraints,
              (SELECT string_agg(attname, ', ') FROM pg_attribute WHERE attrelid = to_regclass($1) AND attidentity <> '') AS identity,
              (SELECT string_agg(attname, ', ') FROM pg_attribute WHERE attrelid = to_regclass($1) AND attacl IS NOT NULL) AS column_grants,
              EXISTS (SELECT 1 FROM ${table} WHERE partition IS NULL OR run_id IS NULL) AS nulls`,
      [table],
    )
  ).rows[0] as { constraints: string | null; identity: string | null; column_grants: string | null; nulls: boolean };
  const blocking = [
    r.constraints &&
      `its constraint(s) ${r.constraints} (a partitioned table's keys must include the partition and the run)`,
    r.identity && `its identity column(s) ${r.identity}`,
    r.column_grants && `the privileges granted on its column(s) ${r.column_grants}`,
    r.nulls && 'rows with no partition or no run_id',
  ].filter(Boolean);
  if (blocking.length > 0)
    throw new UsageError(
      `sink: table ${t.schema}.${t.table} is a plain table and mlscale now keeps one table per partition and run; it cannot carry over ${blocking.join('; ')}: remove them (or move the table aside and let mlscale create a new one), then run again.`,
      { code: 'sink_convert_blocked' },
    );
}

/**
 * Converts a plain prediction table (written by an earlier mlscale, or made by hand with the
 * right columns) into the tree, in the caller's transaction: same name, columns, rows, comments,
 * grants and owner. Staged rows of that layout's checkpoints cannot be resumed in the new one:
 * they and their checkpoints go, and such a run starts over.
 */
export async function convertPlainTable(
  client: ClientBase,
  t: TableRef,
  keys: readonly string[],
  ownViews: readonly string[],
  policy: LockPolicy,
  signal?: AbortSignal,
): Promise<{ rows: number; viewGrants: string[] }> {
  const table = qualified(t.schema, t.table);
  const old = `${t.table}_mlscale_v1`;
  await underLockTimeout(
    client,
    policy,
    { action: `convert ${t.schema}.${t.table} into a partitioned table`, relations: [table] },
    () => client.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`),
    signal,
  );
  // mlscale's views go and come back over the new table; what was granted on them comes back too.
  const viewGrants: string[] = [];
  for (const v of ownViews) {
    const view = qualified(t.schema, v);
    const grants = await client.query(
      `SELECT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(x.grantee::regrole::text) END AS grantee,
              x.privilege_type AS privilege, x.is_grantable AS grantable
         FROM pg_class c, aclexplode(c.relacl) x WHERE c.oid = to_regclass($1) AND x.grantee <> c.relowner`,
      [view],
    );
    for (const g of grants.rows)
      viewGrants.push(`GRANT ${g.privilege} ON ${view} TO ${g.grantee}${g.grantable ? ' WITH GRANT OPTION' : ''}`);
    await client.query(`DROP VIEW IF EXISTS ${view}`);
  }
  const dependents = await client.query(
    `SELECT DISTINCT v.oid::regclass::text AS name FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
       JOIN pg_class v ON v.oid = r.ev_class WHERE d.refobjid = to_regclass($1) AND v.oid <> to_regclass($1)`,
    [table],
  );
  if (dependents.rowCount)
    throw new UsageError(
      `sink: table ${t.schema}.${t.table} is a plain table and mlscale now keeps one table per partition and run; converting it needs ${dependents.rows.map((r) => r.name).join(', ')} (which depend on it) out of the way: drop them, run again, then recreate them.`,
      { code: 'sink_convert_blocked' },
    );
  await refuseWhatCannotMove(client, t);
  const cols = await tableColumnsOf(client, table);
  const meta = (
    await client.query(
      `SELECT c.relowner::regrole::text AS owner /* quoted where it needs to be */, c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user) AS foreign_owner,
              obj_description(c.oid, 'pg_class') AS comment,
              (SELECT json_agg(json_build_object('name', a.attname, 'comment', col_description(c.oid, a.attnum)))
                 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                  AND col_description(c.oid, a.attnum) IS NOT NULL) AS columns,
              (SELECT json_agg(json_build_object('grantee', CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(x.grantee::regrole::text) END,
                                                 'privilege', x.privilege_type, 'grantable', x.is_grantable))
                 FROM aclexplode(c.relacl) x WHERE x.grantee <> c.relowner) AS grants
         FROM pg_class c WHERE c.oid = to_regclass($1)`,
      [table],
    )
  ).rows[0] as {
    owner: string;
    foreign_owner: boolean;
    comment: string | null;
    columns: { name: string; comment: string }[] | null;
    grants: { grantee: string; privilege: string; grantable: boolean }[] | null;
  };
  await client.query(`ALTER TABLE ${table} RENAME TO ${ident(old)}`);
  await client.query(
    `ALTER INDEX IF EXISTS ${qualified(t.schema, legacyIndexName(t.table))} RENAME TO ${ident(`${old}_idx`)}`,
  );
  await createTree(client, t, cols, keys);
  const groups = await client.query(
    `SELECT partition, array_agg(DISTINCT run_id) AS runs FROM ${qualified(t.schema, old)} GROUP BY partition`,
  );
  for (const g of groups.rows as { partition: string; runs: string[] }[]) {
    const mid = qualified(t.schema, partitionTable(t.table, g.partition));
    // Nothing outside this transaction sees the new table yet: PARTITION OF's strong lock costs nothing here.
    await client.query(
      `CREATE TABLE ${mid} PARTITION OF ${table} FOR VALUES IN (${literal(g.partition)}) PARTITION BY LIST (run_id)`,
    );
    for (const runId of g.runs)
      await client.query(
        `CREATE TABLE ${qualified(t.schema, runTable(t.table, runId))} PARTITION OF ${mid} FOR VALUES IN (${literal(runId)})`,
      );
  }
  const names = cols.map((c) => ident(c.name)).join(', ');
  const moved = await client.query(`INSERT INTO ${table} (${names}) SELECT ${names} FROM ${qualified(t.schema, old)}`);
  if (meta.comment !== null) await client.query(`COMMENT ON TABLE ${table} IS ${literal(meta.comment)}`);
  for (const c of meta.columns ?? [])
    await client.query(`COMMENT ON COLUMN ${table}.${ident(c.name)} IS ${literal(c.comment)}`);
  for (const g of meta.grants ?? [])
    await client.query(`GRANT ${g.privilege} ON ${table} TO ${g.grantee}${g.grantable ? ' WITH GRANT OPTION' : ''}`);
  if (meta.foreign_owner) await client.query(`ALTER TABLE ${table} OWNER TO ${meta.owner}`);
  // A serial column's sequence would go with the old table: it follows its column instead.
  const sequences = await client.query(
    `SELECT d.objid::regclass::text AS seq, a.attname AS col FROM pg_depend d
       JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
      WHERE d.refobjid = to_regclass($1) AND d.classid = 'pg_class'::regclass AND d.deptype = 'a'
        AND (SELECT relkind FROM pg_class WHERE oid = d.objid) = 'S'`,
    [qualified(t.schema, old)],
  );
  for (const q of sequences.rows) await client.query(`ALTER SEQUENCE ${q.seq} OWNED BY ${table}.${ident(q.col)}`);
  await client.query(`DROP TABLE ${qualified(t.schema, old)}`);
  const stage = qualified(t.schema, stageTable(t.table));
  if (await relationExists(client, stage)) {
    const checkpoints = qualified(t.schema, CHECKPOINTS_TABLE);
    if (await relationExists(client, checkpoints))
      await client.query(`DELETE FROM ${checkpoints} WHERE run_id IN (SELECT DISTINCT run_id FROM ${stage})`);
    await client.query(`DROP TABLE ${stage}`);
  }
  return { rows: moved.rowCount ?? 0, viewGrants };
}
