import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { LockedError, RuntimeFailure, UsageError } from '../errors.js';
import { redact } from '../redact.js';
import { METADATA_COLUMNS } from '../tensors/io-plan.js';
import { ensureLedger, finishRun, insertRun, LEDGER_TABLE } from './ledger.js';
import { connect } from './pg-connect.js';
import { copyEncoder, type CopyEncoder } from './copy-encoding.js';
import { copyFormatter, sqlTypeForArrow } from './pg-types.js';
import { RejectBuffer } from './rejects.js';
import type { Checkpoint, RunRecord, ScoredChunk, Sink, SinkLayout } from './sink.js';
import { copyText, ident, qualified } from './sql.js';

export interface PostgresSinkOptions {
  readonly url: string;
  readonly schema: string;
  readonly table: string;
}

type CopyStream = ReturnType<typeof copyFrom>;

const CHECKPOINTS = 'mlscale_checkpoints';

/**
 * Which earlier rows a run with shard $3 (I/N, count $4) replaces: all of them when unsharded;
 * for shard I/N, that shard's and any written under another shard count.
 */
const REPLACED_SHARDS = `($3 = '0/1' OR shard = $3 OR split_part(shard, '/', 2) <> $4)`;

/**
 * One transaction per run: DELETE the partition, COPY the new rows, mark the ledger row
 * succeeded, COMMIT. Readers keep seeing the old partition until the commit and the new one
 * after it; a failure rolls everything back. The ledger row is inserted first, outside the
 * transaction, so a run that dies still leaves a trace.
 */
export class PostgresSink implements Sink {
  readonly description: string;
  private client: pg.Client | undefined;
  private copy: CopyStream | undefined;
  private copyError: Error | undefined;
  private inTransaction = false;
  private written = 0;
  private readonly columns: string[];
  private readonly encoder: CopyEncoder;

  constructor(
    private readonly options: PostgresSinkOptions,
    private readonly layout: SinkLayout,
  ) {
    this.description = `${redact(options.url)} ${options.schema}.${options.table}`;
    this.columns = [
      ...layout.keyFields.map((f) => f.name),
      ...layout.outputs.map((o) => o.column),
      ...METADATA_COLUMNS,
    ];
    this.encoder = copyEncoder(layout);
  }

  private get table(): string {
    return qualified(this.options.schema, this.options.table);
  }

  private get label(): string {
    return `${this.options.schema}.${this.options.table}`;
  }

  private async client_(): Promise<pg.Client> {
    this.client ??= await connect(this.options.url, 'sink');
    return this.client;
  }

  private wantedColumns(): { name: string; type: string }[] {
    return [
      ...this.layout.keyFields.map((f) => ({ name: f.name, type: sqlTypeForArrow(f) })),
      ...this.layout.outputs.map((o) => ({ name: o.column, type: o.sqlType })),
      { name: 'model_name', type: 'text' },
      { name: 'model_version', type: 'text' },
      { name: 'partition', type: 'text' },
      { name: 'run_id', type: 'text' },
      { name: 'scored_at', type: 'timestamptz' },
    ];
  }

  /** An existing table must have every column the run writes. */
  async check(): Promise<void> {
    const client = await this.client_();
    const res = await client.query(
      `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`,
      [this.options.schema, this.options.table],
    );
    if (res.rowCount === 0) return;
    const have = new Set(res.rows.map((r) => r.column_name as string));
    const missing = this.wantedColumns().filter((c) => !have.has(c.name));
    if (missing.length > 0) {
      throw new UsageError(
        `sink: table ${this.label} exists without column(s) ${missing.map((c) => `"${c.name}" (${c.type})`).join(', ')}; add them (ALTER TABLE ... ADD COLUMN) or write to a new table.`,
        { code: 'sink_table_mismatch' },
      );
    }
  }

  private async createTable(client: pg.Client): Promise<void> {
    const cols = this.wantedColumns().map(
      (c) => `${ident(c.name)} ${c.type}${(METADATA_COLUMNS as readonly string[]).includes(c.name) ? ' NOT NULL' : ''}`,
    );
    const ddl = async () => {
      if (this.options.schema !== 'public')
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(this.options.schema)}`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${this.table} (${cols.join(', ')})`);
      // The partition is what every re-run deletes; without an index that DELETE scans the table.
      const keys = ['partition', ...this.layout.keyFields.map((f) => f.name)].map(ident).join(', ');
      await client.query(
        `CREATE INDEX IF NOT EXISTS ${ident(`${this.options.table}_partition_key_idx`)} ON ${this.table} (${keys})`,
      );
      await ensureLedger(client, this.options.schema);
      if (this.layout.checkpointing) {
        await client.query(`CREATE TABLE IF NOT EXISTS ${this.stage} (LIKE ${this.table})`);
        await client.query(
          `CREATE INDEX IF NOT EXISTS ${ident(`${this.options.table}_mlscale_stage_run_idx`)} ON ${this.stage} (run_id)`,
        );
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${this.checkpoints} (run_id text PRIMARY KEY, checkpoint jsonb NOT NULL, updated_at timestamptz NOT NULL)`,
        );
      }
      await this.describeForAnalysts(client);
    };
    // Concurrent first runs (shards) would race on CREATE ... IF NOT EXISTS, COMMENT and CREATE VIEW:
    // one transaction-scoped advisory lock per table serializes the DDL.
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `mlscale-ddl:${this.options.schema}.${this.options.table}`,
      ]);
      await ddl();
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  /**
   * For the people who query the table: a `<table>_latest` view of the newest partition this job
   * published, and comments that say which job and model wrote each column.
   */
  private async describeForAnalysts(client: pg.Client): Promise<void> {
    const { schema, table } = this.options;
    const ledger = qualified(schema, LEDGER_TABLE);
    const literal = (v: string) => `'${v.replace(/'/g, "''")}'`;
    await client.query(
      `CREATE OR REPLACE VIEW ${qualified(schema, `${table}_latest`)} AS
         SELECT * FROM ${this.table}
          WHERE partition = (SELECT partition FROM ${ledger}
                              WHERE job = ${literal(this.layout.job)} AND status = 'succeeded'
                              ORDER BY finished_at DESC LIMIT 1)`,
    );
    const model = `${this.layout.modelName} (version ${this.layout.modelVersion})`;
    const comments: [string, string][] = [
      ...this.layout.outputs.map((o): [string, string] => [
        o.column,
        `Prediction: output "${o.output}"${o.index !== undefined ? `, column ${o.index}` : ''} of model ${model}.`,
      ]),
      ['model_name', 'Name of the model that scored the row.'],
      ['model_version', 'Version of that model (by default the first 12 hex characters of its sha256).'],
      ['partition', 'What one run replaces as a whole (by default the run date, ds).'],
      ['run_id', `The mlscale run that wrote the row; see ${schema}.${LEDGER_TABLE}.`],
      ['scored_at', 'When the run scored the row.'],
      ...this.layout.keyFields.map((f): [string, string] => [f.name, 'Key column, copied unchanged from the source.']),
    ];
    await client.query(
      `COMMENT ON TABLE ${this.table} IS ${literal(`Predictions written by mlscale job ${this.layout.job} with model ${model}; each run replaces one partition atomically.`)}`,
    );
    for (const [column, text] of comments)
      await client.query(`COMMENT ON COLUMN ${this.table}.${ident(column)} IS ${literal(text)}`);
    await client.query(
      `COMMENT ON VIEW ${qualified(schema, `${table}_latest`)} IS ${literal(`Rows of the newest partition job ${this.layout.job} published into ${schema}.${table}.`)}`,
    );
  }

  private get stage(): string {
    return qualified(this.options.schema, `${this.options.table}_mlscale_stage`);
  }

  private get checkpoints(): string {
    return qualified(this.options.schema, CHECKPOINTS);
  }

  private startCopy(client: pg.Client, into: string): void {
    this.copyError = undefined;
    this.copy = client.query(
      copyFrom(`COPY ${into} (${this.columns.map(ident).join(', ')}) FROM STDIN WITH (FORMAT ${this.encoder.format})`),
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

  /**
   * Replace what earlier runs of this job wrote to this partition: all of it for an unsharded
   * run; for shard I/N, that shard's rows and any written under another shard count.
   */
  private async replacePartition(client: pg.Client): Promise<void> {
    await client.query(
      `DELETE FROM ${this.table} WHERE partition = $1 AND run_id IN (
         SELECT run_id FROM ${qualified(this.options.schema, LEDGER_TABLE)}
          WHERE job = $2 AND partition = $1 AND status = 'succeeded' AND ${REPLACED_SHARDS})`,
      [this.layout.partition, this.layout.job, this.layout.shard, this.layout.shard.split('/')[1]],
    );
  }

  async begin(run: RunRecord, resume?: Checkpoint): Promise<void> {
    const client = await this.client_();
    try {
      await this.check();
      await this.createTable(client);
      await this.lock(client);
      if (resume) {
        await client.query(
          `UPDATE ${qualified(this.options.schema, LEDGER_TABLE)} SET status = 'running', error = NULL, finished_at = NULL WHERE run_id = $1`,
          [run.run_id],
        );
        this.written = resume.counters.rowsWritten;
      } else {
        await insertRun(client, this.options.schema, run);
        if (this.layout.checkpointing) {
          // Staged rows of earlier failed runs of this key will never be resumed now.
          const earlier = `SELECT run_id FROM ${qualified(this.options.schema, LEDGER_TABLE)} WHERE job = $1 AND partition = $2 AND shard = $3 AND run_id <> $4`;
          const args = [this.layout.job, this.layout.partition, this.layout.shard, run.run_id];
          await client.query(`DELETE FROM ${this.stage} WHERE run_id IN (${earlier})`, args);
          await client.query(`DELETE FROM ${this.checkpoints} WHERE run_id IN (${earlier})`, args);
        }
      }
      await client.query('BEGIN');
      this.inTransaction = true;
      if (this.layout.checkpointing) this.startCopy(client, this.stage);
      else {
        await this.replacePartition(client);
        this.startCopy(client, this.table);
      }
    } catch (err) {
      if (err instanceof UsageError || err instanceof RuntimeFailure || err instanceof LockedError) throw err;
      throw this.fail('cannot prepare', err);
    }
  }

  /** Commits the rows staged so far with the checkpoint, and opens the next segment. */
  async checkpoint(progress: Checkpoint): Promise<void> {
    const client = this.client!;
    try {
      await this.endCopy();
      await client.query(
        `INSERT INTO ${this.checkpoints} (run_id, checkpoint, updated_at) VALUES ($1, $2, now())
         ON CONFLICT (run_id) DO UPDATE SET checkpoint = EXCLUDED.checkpoint, updated_at = now()`,
        [progress.runId, JSON.stringify(progress)],
      );
      await client.query('COMMIT');
      await client.query('BEGIN');
      this.startCopy(client, this.stage);
    } catch (err) {
      throw this.fail('cannot checkpoint into', this.copyError ?? err);
    }
  }

  async baseline(ref: string): Promise<RunRecord | undefined> {
    // Its own connection: the run's connection is in the middle of a COPY until publish.
    const client = await connect(this.options.url, 'sink');
    try {
      const exists = await client.query('SELECT to_regclass($1) AS t', [
        `${ident(this.options.schema)}.${LEDGER_TABLE}`,
      ]);
      if (!exists.rows[0].t) return undefined;
      const res =
        ref === 'previous'
          ? await client.query(
              `SELECT * FROM ${qualified(this.options.schema, LEDGER_TABLE)} WHERE job = $1 AND status = 'succeeded' AND stats IS NOT NULL ORDER BY finished_at DESC LIMIT 1`,
              [this.layout.job],
            )
          : await client.query(`SELECT * FROM ${qualified(this.options.schema, LEDGER_TABLE)} WHERE run_id = $1`, [
              ref,
            ]);
      return res.rows[0] as RunRecord | undefined;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async findResumable(): Promise<Checkpoint | undefined> {
    const client = await this.client_();
    const exists = await client.query('SELECT to_regclass($1) AS t', [`${ident(this.options.schema)}.${CHECKPOINTS}`]);
    if (!exists.rows[0].t) return undefined;
    const res = await client.query(
      `SELECT c.checkpoint FROM ${this.checkpoints} c JOIN ${qualified(this.options.schema, LEDGER_TABLE)} r USING (run_id)
        WHERE r.job = $1 AND r.partition = $2 AND r.shard = $3 AND r.status IN ('failed', 'running')
        ORDER BY r.started_at DESC LIMIT 1`,
      [this.layout.job, this.layout.partition, this.layout.shard],
    );
    return res.rows[0]?.checkpoint as Checkpoint | undefined;
  }

  /**
   * A session-level advisory lock per job, partition and shard: a second run exits 4 instead of
   * interleaving. It dies with the connection, so a killed run never leaves it behind, and any
   * ledger row still 'running' for this key is from a run that died: mark it failed.
   */
  private async lock(client: pg.Client): Promise<void> {
    const key = `mlscale:${this.options.schema}.${this.options.table}:${this.layout.job}:${this.layout.partition}:${this.layout.shard}`;
    const res = await client.query(
      this.layout.wait
        ? 'SELECT true AS ok FROM (SELECT pg_advisory_lock(hashtextextended($1, 0))) AS l'
        : 'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok',
      [key],
    );
    if (!res.rows[0].ok) {
      throw new LockedError(
        `sink: another run of job ${this.layout.job} holds partition ${this.layout.partition} (shard ${this.layout.shard}) of ${this.label}; wait for it to finish, or pass --wait.`,
      );
    }
    await client.query(
      `UPDATE ${qualified(this.options.schema, LEDGER_TABLE)} SET status = 'failed', finished_at = now(),
         error = coalesce(error, 'abandoned: the process ended without finishing the run')
       WHERE job = $1 AND partition = $2 AND shard = $3 AND status = 'running'`,
      [this.layout.job, this.layout.partition, this.layout.shard],
    );
  }

  private fail(what: string, err: unknown): RuntimeFailure {
    const msg = err instanceof Error ? err.message : String(err);
    return new RuntimeFailure(`sink: ${what} ${this.label} (${redact(msg)}).`, { code: 'sink_postgres', cause: err });
  }

  async write(chunk: ScoredChunk): Promise<void> {
    if (this.copyError) throw this.fail('COPY into', this.copyError);
    if (chunk.rows === 0) return;
    try {
      if (!this.copy!.write(this.encoder.encode(chunk)))
        await Promise.race([once(this.copy!, 'drain'), once(this.copy!, 'error')]);
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
    const keyCols = this.layout.keyFields.map((f) => `${ident(f.name)} ${sqlTypeForArrow(f)}`);
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
      `mlscale-ddl:${target.schema}.${target.table}`,
    ]);
    if (target.schema !== 'public') await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(target.schema)}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${table} (${[...keyCols, 'reason text NOT NULL', 'job text NOT NULL', 'partition text NOT NULL', 'shard text NOT NULL', 'run_id text NOT NULL', 'rejected_at timestamptz NOT NULL'].join(', ')})`,
    );
    await client.query(`DELETE FROM ${table} WHERE job = $1 AND partition = $2 AND ${REPLACED_SHARDS}`, [
      this.layout.job,
      this.layout.partition,
      this.layout.shard,
      this.layout.shard.split('/')[1],
    ]);
    if (rejects.size === 0) return;
    const formats = this.layout.keyFields.map(copyFormatter);
    const suffix = [
      this.layout.job,
      this.layout.partition,
      this.layout.shard,
      this.layout.runId,
      new Date().toISOString(),
    ]
      .map(copyText)
      .join('\t');
    const lines: string[] = [];
    for (let r = 0; r < rejects.size; r++) {
      const keys = rejects.keys.map((col, k) =>
        col[r] === null || col[r] === undefined ? '\\N' : copyText(formats[k]!(col[r])),
      );
      lines.push([...keys, copyText(rejects.reasons[r]!), suffix].join('\t'));
    }
    const cols = [
      ...this.layout.keyFields.map((f) => f.name),
      'reason',
      'job',
      'partition',
      'shard',
      'run_id',
      'rejected_at',
    ]
      .map(ident)
      .join(', ');
    const stream = client.query(copyFrom(`COPY ${table} (${cols}) FROM STDIN`));
    stream.end(lines.join('\n') + '\n');
    await finished(stream);
  }

  async publish(run: RunRecord, rejects?: RejectBuffer): Promise<void> {
    const client = this.client!;
    try {
      await this.endCopy();
      if (this.layout.checkpointing) {
        // Every segment is staged: move them into the table in this one transaction.
        const cols = this.columns.map(ident).join(', ');
        await this.replacePartition(client);
        await client.query(`INSERT INTO ${this.table} (${cols}) SELECT ${cols} FROM ${this.stage} WHERE run_id = $1`, [
          run.run_id,
        ]);
        await client.query(`DELETE FROM ${this.stage} WHERE run_id = $1`, [run.run_id]);
        await client.query(`DELETE FROM ${this.checkpoints} WHERE run_id = $1`, [run.run_id]);
      }
      run.rows_written = this.written;
      const target = this.layout.rejects;
      if (target && 'table' in target)
        await this.writeRejects(client, rejects ?? new RejectBuffer(this.layout.keyFields), target);
      await finishRun(client, this.options.schema, run);
      await client.query('COMMIT');
      this.inTransaction = false;
    } catch (err) {
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
