import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { LockedError, RuntimeFailure, UsageError } from '../errors.js';
import {
  baselineRun,
  deleteCheckpoints,
  ensureCheckpoints,
  ensureLedger,
  findCheckpoint,
  finishRun,
  insertRun,
  markAbandoned,
  otherRunIds,
  reopenRun,
  replacedRunIds,
  replacedShards,
  runLockKey,
  saveCheckpoint,
  type RunKey,
} from '../ledger/pg-ledger.js';
import { shardText, type Checkpoint, type RunRecord } from '../ledger/record.js';
import { REJECT_COLUMNS, tableColumns, type TableColumn } from '../output/columns.js';
import { CHECKPOINTS_TABLE, LEDGER_TABLE } from '../output/tables.js';
import { relationExists } from '../pg/catalog.js';
import { cancelOnAbort, connect } from '../pg/connect.js';
import type { LockPolicy } from '../pg/lock-timeout.js';
import { copyText, ident, qualified } from '../pg/sql.js';
import { sqlTypeForArrow } from '../pg/types.js';
import { redact } from '../redact.js';
import { copyEncoder, keyText, type CopyEncoder } from './copy-encoding.js';
import { describeForAnalysts, jobViews } from './pg-describe.js';
import {
  convertPlainTable,
  createRunTable,
  createTree,
  dropUnpublished,
  ensurePartitionTable,
  indexRunTable,
  restoreRunDefaults,
  runTable,
  runTableExists,
  setRunDefaults,
  swapRunTables,
  tableKind,
  type TableRef,
} from './pg-tree.js';
import { RejectBuffer, rejectValues } from './rejects.js';
import { runConstants } from './run-metadata.js';
import type { ScoredChunk, Sink, SinkLayout } from './sink.js';

export interface PostgresSinkOptions {
  readonly url: string;
  readonly schema: string;
  readonly table: string;
  /** lock_timeout of each request for a lock readers could queue behind. */
  readonly lockTimeoutMs?: number;
}

/** The longest partition value: it is indexed (btree rows stop at about 2.7 kB) and stored per row. */
const MAX_PARTITION_BYTES = 1024;

/** How many times a strong lock is asked for before the run gives up with the holders named. */
const LOCK_ATTEMPTS = 5;

type CopyStream = ReturnType<typeof copyFrom>;

/**
 * A run takes its partition's advisory lock, creates what is missing (no DDL otherwise), then in
 * one transaction creates its own table, COPYs its rows into it, and publishes: attaches it to
 * the partition's table, drops the tables of the runs it replaces, marks the ledger row, COMMIT
 * (src/sink/pg-tree.ts). Readers see the old rows until the commit and the new ones after it; a
 * failure rolls everything back. The ledger row is inserted first, outside the transaction, so a
 * run that dies still leaves a trace. With checkpoints, each segment commits into the run's table,
 * which nothing reads until it is attached.
 */
export class PostgresSink implements Sink {
  readonly description: string;
  private client: pg.Client | undefined;
  private copy: CopyStream | undefined;
  private copyError: Error | undefined;
  private inTransaction = false;
  /** This run's ledger row exists (inserted, or reopened to resume): only then may abort update it. */
  private recorded = false;
  private written = 0;
  /** The COPY's columns: the table's, less those every row of the run shares (setRunDefaults). */
  private readonly columns: string[];
  private readonly constants: ReturnType<typeof runConstants>;
  private readonly encoder: CopyEncoder;

  constructor(
    private readonly options: PostgresSinkOptions,
    private readonly layout: SinkLayout,
  ) {
    this.description = `${redact(options.url)} ${options.schema}.${options.table}`;
    this.constants = runConstants(layout);
    const constant = new Set<string>(this.constants.map((c) => c.column));
    this.columns = this.tableColumns()
      .map((c) => c.name)
      .filter((c) => !constant.has(c));
    this.encoder = copyEncoder(layout);
  }

  private get table(): string {
    return qualified(this.options.schema, this.options.table);
  }

  private get label(): string {
    return `${this.options.schema}.${this.options.table}`;
  }

  private get ref(): TableRef {
    return { schema: this.options.schema, table: this.options.table };
  }

  private get policy(): LockPolicy {
    return { timeoutMs: this.options.lockTimeoutMs ?? 2000, attempts: LOCK_ATTEMPTS };
  }

  private get keyNames(): string[] {
    return this.layout.keyFields.map((f) => f.name);
  }

  private async client_(): Promise<pg.Client> {
    this.client ??= await connect(this.options.url, 'sink');
    return this.client;
  }

  private tableColumns(): TableColumn[] {
    return tableColumns(this.layout.keyFields, this.layout.outputs, sqlTypeForArrow);
  }

  private get key(): RunKey {
    return { job: this.layout.job, partition: this.layout.partition, shard: this.layout.shard };
  }

  /** An existing table must have every column the run writes. */
  /**
   * Before anything is written: the role may do what a run does (named as the GRANT that is
   * missing), and an existing table has every column the run writes, each of the type it
   * writes. Binary COPY sends raw bytes, so a column of another type would get its bytes
   * reinterpreted (a double read as a bigint): that is refused, never written.
   */
  async check(): Promise<void> {
    const client = await this.client_();
    await this.checkPrivileges(client);
    await this.checkKind(client);
    // The value lands in an index and in ledger rows: a huge one fails only after scoring.
    if (Buffer.byteLength(this.layout.partition) > MAX_PARTITION_BYTES)
      throw new UsageError(
        `partition: the value is ${Buffer.byteLength(this.layout.partition)} bytes; a partition may have at most ${MAX_PARTITION_BYTES}: derive a shorter one (partition: in the job).`,
        { code: 'partition_too_long' },
      );
    const res = await client.query(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
         FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
      [this.table],
    );
    if (res.rowCount === 0) return;
    const have = new Map(res.rows.map((r) => [r.name as string, r.type as string]));
    const missing = this.tableColumns().filter((c) => !have.has(c.name));
    if (missing.length > 0) {
      throw new UsageError(
        `sink: table ${this.label} exists without column(s) ${missing.map((c) => `"${c.name}" (${c.sqlType})`).join(', ')}; add them (ALTER TABLE ... ADD COLUMN) or write to a new table.`,
        { code: 'sink_table_mismatch' },
      );
    }
    for (const c of this.tableColumns()) {
      const existing = have.get(c.name)!;
      if (sameType(existing, c.sqlType)) continue;
      throw new UsageError(
        `sink: column "${c.name}" of table ${this.label} is ${existing} but this run writes ${canonicalType(c.sqlType)}; change the column's type (ALTER TABLE ... ALTER COLUMN ... TYPE ${c.sqlType}) or write to a new table.`,
        { code: 'sink_type_mismatch' },
      );
    }
  }

  /** The sink must be a plain table (converted on first use), or a tree mlscale made; never a view or someone's partition. */
  private async checkKind(client: pg.Client): Promise<void> {
    const r = (
      await client.query(
        `SELECT c.relkind AS kind, (SELECT i.inhparent::regclass::text FROM pg_inherits i WHERE i.inhrelid = c.oid) AS parent,
                (SELECT p.partstrat = 'l' AND p.partnatts = 1 AND a.attname = 'partition'
                   FROM pg_partitioned_table p JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
                  WHERE p.partrelid = c.oid) AS ours
           FROM pg_class c WHERE c.oid = to_regclass($1)`,
        [this.table],
      )
    ).rows[0] as { kind: string; parent: string | null; ours: boolean | null } | undefined;
    if (!r) return;
    const refuse = (what: string) => new UsageError(`sink: ${this.label} ${what}`, { code: 'sink_table_kind' });
    if (r.parent)
      throw refuse(
        `is a partition of ${r.parent}; mlscale keeps a table per partition value and per run under its tables: write to ${r.parent}, or name another table.`,
      );
    if (r.kind === 'v' || r.kind === 'm')
      throw refuse(
        `is a ${r.kind === 'v' ? 'view' : 'materialized view'}; name a table (mlscale creates it if missing).`,
      );
    if (r.kind === 'p' && !r.ours)
      throw refuse(
        'is partitioned in a way of its own; mlscale partitions its tables by LIST (partition), then by run: name another table.',
      );
    if (r.kind !== 'p' && r.kind !== 'r') throw refuse('is not a table; name a table (mlscale creates it if missing).');
  }

  /**
   * The grants a run needs, each checked so the message can name the one that is missing. A run
   * creates, attaches and drops tables in the tree, which only the table's owner may do: the
   * role must own it or be a member of the role that does.
   */
  private async checkPrivileges(client: pg.Client): Promise<void> {
    const { schema } = this.options;
    const res = await client.query(
      `SELECT current_user AS who, current_database() AS db,
              n.oid IS NOT NULL AS schema_exists,
              CASE WHEN n.oid IS NULL THEN has_database_privilege(current_database(), 'CREATE') END AS db_create,
              CASE WHEN n.oid IS NOT NULL THEN has_schema_privilege(n.oid, 'USAGE') END AS usage,
              CASE WHEN n.oid IS NOT NULL THEN has_schema_privilege(n.oid, 'CREATE') END AS create,
              (SELECT c.relowner::regrole::text FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname = $2) AS table_owner,
              (SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname = $2) AS owns,
              (SELECT r.rolsuper FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
                WHERE c.relnamespace = n.oid AND c.relname = $2) AS owner_super,
              EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname = $3) AS ledger_exists
         FROM (SELECT 1) one LEFT JOIN pg_namespace n ON n.nspname = $1`,
      // Looked up by name, not to_regclass: that fails outright in a schema the role cannot use.
      [schema, this.options.table, LEDGER_TABLE],
    );
    const r = res.rows[0] as Record<string, unknown>;
    const who = ident(String(r.who));
    const denied = (grant: string, why = '') =>
      new UsageError(
        `sink: role ${String(r.who)} lacks a privilege the run needs on ${this.label}${why}; have the owner run: ${grant} TO ${who};`,
        { code: 'sink_privilege' },
      );
    if (!r.schema_exists) {
      if (!r.db_create) throw denied(`GRANT CREATE ON DATABASE ${ident(String(r.db))}`);
      return;
    }
    if (!r.usage) throw denied(`GRANT USAGE ON SCHEMA ${ident(schema)}`);
    if (!r.create) throw denied(`GRANT CREATE ON SCHEMA ${ident(schema)}`, ' (each run loads a table of its own)');
    if (r.table_owner !== null && !r.owns && r.owner_super)
      throw new UsageError(
        `sink: role ${String(r.who)} may not write ${this.label}: only its owner, or a member of the owner's role, may attach and drop its partitions, and its owner ${String(r.table_owner)} is a superuser; give the table to a role of its own (ALTER TABLE ${this.table} OWNER TO mlscale_owner, with the tables under it), then GRANT mlscale_owner TO ${who};`,
        { code: 'sink_privilege' },
      );
    if (r.table_owner !== null && !r.owns)
      throw denied(
        `GRANT ${String(r.table_owner)}`,
        ` (only the table's owner, or a member of its role, may attach and drop its partitions)`,
      );
    if (!r.ledger_exists) return;
    const privs = ['SELECT', 'INSERT', 'UPDATE'];
    const ledgerTable = qualified(schema, LEDGER_TABLE);
    const have = await client.query(
      `SELECT ${privs.map((_, i) => `has_table_privilege($1, $${i + 2}) AS p${i}`).join(', ')}`,
      [ledgerTable, ...privs],
    );
    const lacking = privs.filter((_, i) => !have.rows[0][`p${i}`]);
    if (lacking.length > 0) throw denied(`GRANT ${lacking.join(', ')} ON ${ledgerTable}`);
  }

  /**
   * Creates what is missing (schema, table, ledger, checkpoints, the partition's table) and
   * brings the analysts' view and descriptions up to date, taking no lock when nothing changed:
   * a run never waits here for another run's COPY. Concurrent first runs (shards) would race on
   * CREATE: a transaction-scoped advisory lock per table takes them one at a time.
   */
  private async prepareTable(client: pg.Client, signal: AbortSignal | undefined): Promise<void> {
    const { schema } = this.options;
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`mlscale-ddl:${this.label}`]);
      const shared = async () =>
        (
          await client.query(
            `SELECT to_regnamespace($1) IS NOT NULL AS schema_exists, to_regclass($2) IS NOT NULL AS ledger_exists,
                    to_regclass($3) IS NOT NULL AS checkpoints_exist`,
            [schema, qualified(schema, LEDGER_TABLE), qualified(schema, CHECKPOINTS_TABLE)],
          )
        ).rows[0] as { schema_exists: boolean; ledger_exists: boolean; checkpoints_exist: boolean };
      let state = await shared();
      if (!state.schema_exists || !state.ledger_exists || (this.layout.checkpointing && !state.checkpoints_exist)) {
        // The schema, ledger and checkpoints serve every table in the schema: first runs of
        // different jobs (a scheduler's, ticking together) created them at once and one failed
        // ("duplicate key value violates unique constraint pg_type_typname_nsp_index").
        await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`mlscale-ddl-schema:${schema}`]);
        state = await shared();
      }
      if (!state.schema_exists) await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
      if (!state.ledger_exists) await ensureLedger(client, schema);
      if (this.layout.checkpointing && !state.checkpoints_exist) await ensureCheckpoints(client, schema);
      let converted: { rows: number; viewGrants: string[] } | undefined;
      const kind = await tableKind(client, this.table);
      if (kind === undefined) {
        const cols = this.tableColumns().map((c) => ({
          name: c.name,
          type: c.sqlType,
          notNull: c.role === 'metadata',
        }));
        await createTree(client, this.ref, cols, this.keyNames);
      } else if (kind === 'r') {
        converted = await convertPlainTable(
          client,
          this.ref,
          this.keyNames,
          await jobViews(client, this.ref),
          this.policy,
          signal,
        );
        this.layout.warn?.(
          `sink: converted ${this.label} (${converted.rows} rows) into a table partitioned by partition and run, so that a re-run replaces a partition without deleting rows; queries read it as before.`,
        );
      }
      await ensurePartitionTable(client, this.ref, this.layout.partition, this.policy, signal);
      await describeForAnalysts(
        client,
        this.ref,
        {
          job: this.layout.job,
          model: `${this.layout.modelName} (version ${this.layout.modelVersion})`,
          outputs: this.layout.outputs,
          keys: this.keyNames,
        },
        this.policy,
        signal,
      );
      for (const grant of converted?.viewGrants ?? []) await client.query(grant);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  /** The table this run loads: the run id is the one begin() was given (a resumed run's own). */
  private runId = '';
  private get runTable(): string {
    return qualified(this.options.schema, runTable(this.options.table, this.runId));
  }

  private startCopy(client: pg.Client, into: string, freeze = false): void {
    this.copyError = undefined;
    this.copy = client.query(
      copyFrom(
        `COPY ${into} (${this.columns.map(ident).join(', ')}) FROM STDIN WITH (FORMAT ${this.encoder.format}${freeze ? ', FREEZE' : ''})`,
      ),
    );
    this.copy.on('error', (err) => (this.copyError ??= err));
    this.copy.write(this.encoder.header());
  }

  private async endCopy(): Promise<void> {
    this.copy!.end(this.encoder.trailer());
    await finished(this.copy!);
    if (this.copyError) throw this.copyError;
    this.copy = undefined;
  }

  async begin(run: RunRecord, resume?: Checkpoint, signal?: AbortSignal): Promise<void> {
    const client = await this.client_();
    this.runId = run.run_id;
    try {
      await this.check();
      // The lock first: a second run of this key exits 4 at once, before it waits on anything.
      await this.lock(client, signal);
      await this.prepareTable(client, signal);
      await markAbandoned(client, this.options.schema, this.key);
      if (resume) {
        if (!(await runTableExists(client, this.ref, run.run_id)))
          throw new RuntimeFailure(
            `sink: the rows run ${run.run_id} committed before it stopped are gone from ${this.label}; run again without --resume.`,
            { code: 'resume_rows_gone' },
          );
        await reopenRun(client, this.options.schema, run.run_id);
        this.recorded = true;
        this.written = resume.counters.rowsWritten;
      } else {
        try {
          await insertRun(client, this.options.schema, run);
        } catch (err) {
          if ((err as { code?: string }).code !== '23505') throw err;
          throw new UsageError(
            `--run-id ${run.run_id}: that run id is already in the ledger ${this.options.schema}.${LEDGER_TABLE}; give this run a new one (or leave --run-id out).`,
            { code: 'run_id_taken' },
          );
        }
        this.recorded = true;
        // Rows earlier failed runs of this key committed (checkpoints) will never be resumed now.
        const earlier = await otherRunIds(client, this.options.schema, this.key, run.run_id);
        await dropUnpublished(client, this.ref, earlier);
        if (this.layout.checkpointing) await deleteCheckpoints(client, this.options.schema, earlier);
      }
      await client.query('BEGIN');
      this.inTransaction = true;
      if (resume) {
        await setRunDefaults(client, this.ref, run.run_id, this.constants);
        this.startCopy(client, this.runTable);
      } else {
        await createRunTable(client, this.ref, this.layout.partition, run.run_id);
        await setRunDefaults(client, this.ref, run.run_id, this.constants);
        // Created in this transaction: its rows can be written frozen, sparing a later VACUUM.
        this.startCopy(client, this.runTable, true);
      }
    } catch (err) {
      if (err instanceof UsageError || err instanceof RuntimeFailure || err instanceof LockedError) throw err;
      throw this.fail('cannot prepare', err);
    }
  }

  /** Commits the rows written so far with the checkpoint, and opens the next segment. */
  async checkpoint(progress: Checkpoint): Promise<void> {
    const client = this.client!;
    try {
      await this.endCopy();
      await saveCheckpoint(client, this.options.schema, progress);
      await client.query('COMMIT');
      await client.query('BEGIN');
      this.startCopy(client, this.runTable);
    } catch (err) {
      throw this.fail('cannot checkpoint into', this.copyError ?? err);
    }
  }

  /** A look at the database on a connection of its own: the run's is in the middle of a COPY until publish. */
  private async aside<T>(look: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = await connect(this.options.url, 'sink');
    try {
      return await look(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async baseline(ref: string): Promise<RunRecord | undefined> {
    return this.aside((client) => baselineRun(client, this.options.schema, this.key, ref));
  }

  async published(): Promise<{ runIds: string[]; rows: number } | undefined> {
    return this.aside(async (client) => {
      // Rows actually in the table: the ledger keeps every earlier run, most of them long replaced.
      const runIds = await replacedRunIds(client, this.options.schema, this.key);
      if (runIds.length === 0) return undefined;
      if (!(await relationExists(client, this.table))) return undefined;
      const res = await client.query(
        `SELECT run_id, count(*)::float8 AS n FROM ${this.table}
          WHERE partition = $1 AND run_id = ANY($2::text[]) GROUP BY run_id ORDER BY run_id`,
        [this.layout.partition, runIds],
      );
      if (res.rows.length === 0) return undefined;
      return { runIds: res.rows.map((r) => String(r.run_id)), rows: res.rows.reduce((n, r) => n + Number(r.n), 0) };
    });
  }

  async findResumable(): Promise<Checkpoint | undefined> {
    return findCheckpoint(await this.client_(), this.options.schema, this.key);
  }

  /**
   * A session-level advisory lock per job, partition and shard: a second run exits 4 instead of
   * interleaving. It dies with the connection, so a killed run never leaves it behind, and any
   * ledger row still 'running' for this key is from a run that died (begin marks it failed).
   */
  private async lock(client: pg.Client, signal: AbortSignal | undefined): Promise<void> {
    const key = runLockKey(this.options.schema, this.key);
    // Waiting ends with the lock, or with a cancel when the run is aborted (SIGTERM, SIGINT).
    const stopCancel = this.layout.wait ? cancelOnAbort(client, this.options.url, signal) : () => undefined;
    let res;
    try {
      if (this.layout.wait && this.layout.waitTimeoutMs !== undefined)
        await client.query(`SET lock_timeout = ${Math.max(1, Math.round(this.layout.waitTimeoutMs))}`);
      res = await client.query(
        this.layout.wait
          ? 'SELECT true AS ok FROM (SELECT pg_advisory_lock(hashtextextended($1, 0))) AS l'
          : 'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok',
        [key],
      );
    } catch (err) {
      signal?.throwIfAborted();
      if ((err as { code?: string }).code === '55P03') res = { rows: [{ ok: false }] };
      else throw err;
    } finally {
      stopCancel();
      if (this.layout.wait && this.layout.waitTimeoutMs !== undefined) await client.query('RESET lock_timeout');
    }
    signal?.throwIfAborted();
    if (!res.rows[0].ok) {
      throw new LockedError(
        `sink: another run of job ${this.layout.job} holds partition ${this.layout.partition} (shard ${shardText(this.layout.shard)}) of ${this.label}; wait for it to finish, or pass --wait.`,
      );
    }
    await this.excludeOtherCounts(client, signal);
  }

  /**
   * Runs under another shard count replace this run's rows and it theirs: they may not overlap.
   * Every run holds a shared advisory lock on (job and partition, its shard count) for its life;
   * one finding another count's held exits 4 (or waits). The look and the taking happen under one
   * transaction lock, so of two runs of different counts starting together one always sees the
   * other.
   */
  private async excludeOtherCounts(client: pg.Client, signal: AbortSignal | undefined): Promise<void> {
    const key = `mlscale-count:${this.options.schema}:${this.layout.job}:${this.layout.partition}`;
    const count = this.layout.shard.count;
    const deadline = this.layout.waitTimeoutMs === undefined ? Infinity : Date.now() + this.layout.waitTimeoutMs;
    for (;;) {
      let other: { count: number; pid: number } | undefined;
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [key]);
        other = (
          await client.query(
            `SELECT l.objid::bigint::int AS count, l.pid FROM pg_locks l
              WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.pid <> pg_backend_pid()
                AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND l.classid::bigint = (hashtext($1)::bigint & 4294967295) AND l.objid::bigint <> $2
              LIMIT 1`,
            [key, count],
          )
        ).rows[0];
        if (!other) await client.query('SELECT pg_advisory_lock_shared(hashtext($1), $2)', [key, count]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
      if (!other) return;
      if (!this.layout.wait || Date.now() >= deadline)
        throw new LockedError(
          `sink: a run of job ${this.layout.job} under ${other.count === 1 ? 'no shards' : `${other.count} shards`} (backend ${other.pid}) holds partition ${this.layout.partition} of ${this.label}; runs under different shard counts replace each other's rows and may not overlap: wait for it to finish, or pass --wait.`,
        );
      await new Promise((r) => setTimeout(r, 500));
      signal?.throwIfAborted();
    }
  }

  private fail(what: string, err: unknown): RuntimeFailure {
    const msg = err instanceof Error ? err.message : String(err);
    return new RuntimeFailure(`sink: ${what} ${this.label} (${redact(msg)}).`, { code: 'sink_postgres', cause: err });
  }

  async write(chunk: ScoredChunk): Promise<void> {
    if (this.copyError) throw this.fail('COPY into', this.copyError);
    if (chunk.rows === 0) return;
    try {
      if (!this.copy!.write(this.encoder.encode(chunk))) await drainOrError(this.copy!);
    } catch (err) {
      // A dropped connection surfaces here as the socket's error (EPIPE, ECONNRESET).
      throw this.fail('COPY into', this.copyError ?? err);
    }
    if (this.copyError) throw this.fail('COPY into', this.copyError);
    this.written += chunk.rows;
  }

  /** Rejected rows into the rejects table, in the publishing transaction: they appear with the predictions. */
  private async writeRejects(
    client: pg.Client,
    rejects: RejectBuffer,
    target: { schema: string; table: string },
  ): Promise<void> {
    const table = qualified(target.schema, target.table);
    const columns = [
      ...this.layout.keyFields.map((f) => `${ident(f.name)} ${sqlTypeForArrow(f)}`),
      ...REJECT_COLUMNS.map((c) => `${ident(c.name)} ${c.sqlType} NOT NULL`),
    ];
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
      `mlscale-ddl:${target.schema}.${target.table}`,
    ]);
    if (target.schema !== 'public') await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(target.schema)}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${table} (${columns.join(', ')})`);
    await client.query(`DELETE FROM ${table} WHERE job = $1 AND partition = $2 AND ${replacedShards('$3', '$4')}`, [
      this.layout.job,
      this.layout.partition,
      shardText(this.layout.shard),
      String(this.layout.shard.count),
    ]);
    if (rejects.size === 0) return;
    const rejectedAt = new Date();
    const lines: string[] = [];
    const keyTexts = this.layout.keyFields.map((f, k) => keyText(f, rejects.keys(k)));
    for (let r = 0; r < rejects.size; r++) {
      const keys = keyTexts.map((text) => text(r));
      const rest = rejectValues(this.layout, rejects.reasons[r]!, rejectedAt).map((v) =>
        copyText(v instanceof Date ? v.toISOString() : v),
      );
      lines.push([...keys, ...rest].join('\t'));
    }
    const cols = [...this.layout.keyFields.map((f) => f.name), ...REJECT_COLUMNS.map((c) => c.name)].map(ident);
    const stream = client.query(copyFrom(`COPY ${table} (${cols.join(', ')}) FROM STDIN`));
    stream.end(lines.join('\n') + '\n');
    await finished(stream);
  }

  async publish(run: RunRecord, rejects?: RejectBuffer, signal?: AbortSignal): Promise<void> {
    const client = this.client!;
    try {
      await this.endCopy();
      await restoreRunDefaults(
        client,
        this.ref,
        run.run_id,
        this.constants.map((c) => c.column),
      );
      await indexRunTable(client, this.ref, run.run_id, this.keyNames);
      if (this.layout.checkpointing) await deleteCheckpoints(client, this.options.schema, [run.run_id]);
      run.rows_written = this.written;
      const target = this.layout.rejects;
      if (target && 'table' in target)
        await this.writeRejects(client, rejects ?? new RejectBuffer(this.layout.keyFields), target);
      await finishRun(client, this.options.schema, run);
      // Last before the commit: the partition's table is locked from the swap to the COMMIT.
      await swapRunTables(
        client,
        this.ref,
        this.layout.partition,
        run.run_id,
        () => replacedRunIds(client, this.options.schema, this.key),
        this.policy,
        signal,
      );
      // The commit point: a run aborted before it publishes nothing.
      signal?.throwIfAborted();
      await client.query('COMMIT');
      this.inTransaction = false;
    } catch (err) {
      if (err instanceof RuntimeFailure && (err as { code?: string }).code === 'sink_lock_timeout') throw err;
      throw this.fail('cannot commit into', this.copyError ?? err);
    }
  }

  async abort(run: RunRecord): Promise<void> {
    const client = this.client;
    if (!client) return;
    try {
      if (this.copy) {
        this.copy.destroy(new Error('run aborted'));
        await finished(this.copy).catch(() => undefined);
      }
      if (this.inTransaction) await client.query('ROLLBACK');
      this.inTransaction = false;
    } catch {
      // A broken connection has rolled back by itself; the ledger update below uses a fresh one.
      await client.end().catch(() => undefined);
      this.client = undefined;
    }
    if (!this.recorded) return; // another run's row with this id is not ours to mark failed
    try {
      const c = await this.client_();
      await finishRun(c, this.options.schema, run);
    } catch {
      // The ledger row stays 'running'; the next run of this job marks it failed.
    }
  }

  async close(): Promise<void> {
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }
}

/**
 * Waits for a stream's 'drain', or rejects with its 'error'; the listener that did not fire is
 * removed, so a long COPY does not pile up one 'error' listener per backpressure wait.
 */
async function drainOrError(stream: CopyStream): Promise<void> {
  const done = new AbortController();
  const drained = once(stream, 'drain', { signal: done.signal });
  const failed = once(stream, 'error', { signal: done.signal });
  try {
    await Promise.race([drained, failed]);
  } finally {
    done.abort();
    drained.catch(() => undefined);
    failed.catch(() => undefined);
  }
}

/** format_type's spelling of the SQL types mlscale writes. */
function canonicalType(sqlType: string): string {
  if (sqlType === 'timestamptz') return 'timestamp with time zone';
  if (sqlType === 'timestamp') return 'timestamp without time zone';
  return sqlType.replace(/^numeric\((\d+), (\d+)\)$/, 'numeric($1,$2)');
}

/** Whether a column of type `existing` takes the bytes COPY sends for `wanted` unchanged. */
function sameType(existing: string, wanted: string): boolean {
  const want = canonicalType(wanted);
  if (existing === want) return true;
  // text and varchar share one binary form; a value too long for varchar(n) fails loudly.
  return want === 'text' && /^character varying(\(\d+\))?$/.test(existing);
}
