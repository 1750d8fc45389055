import type { RecordBatch, Schema } from 'apache-arrow';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { RuntimeFailure, UsageError } from '../errors.js';
import { redact } from '../redact.js';
import { cancelOnAbort, connect } from '../pg/connect.js';
import { ident } from '../pg/sql.js';
import { PgBinaryDecoder } from '../pg/copy-decoder.js';
import { PG_TYPES } from '../pg/types.js';
import { paramValues, rewriteParams } from './query-params.js';
import type { Source } from './source.js';

export interface PostgresSourceSpec {
  readonly url: string;
  readonly query: string;
}

/** A disjoint part of the rows: those whose key hashes to `index` modulo `count`. */
export interface HashShard {
  readonly index: number;
  readonly count: number;
  readonly key: readonly string[];
}

interface Probe {
  readonly columns: { name: string; oid: number }[];
  /** The query with each :name turned into a typed reference to a bound session setting. */
  readonly copySql: string;
  readonly settings: { name: string; value: string }[];
}

function queryError(err: unknown): UsageError {
  const e = err as { message?: string; position?: string };
  return new UsageError(
    `source.postgres.query: Postgres rejected the query (${redact(e.message ?? String(err))}); fix the SQL.`,
    { code: 'source_query', cause: err },
  );
}

/**
 * Learns the query's columns and its parameters' types without running it, and rewrites it for
 * COPY, which cannot take bind parameters: each :name becomes current_setting('mlscale.p_name')
 * cast to the type Postgres inferred for it, and the value is bound into that setting.
 */
async function probe(
  client: pg.Client,
  spec: PostgresSourceSpec,
  params: Readonly<Record<string, string>>,
): Promise<Probe> {
  const positional = rewriteParams(
    spec.query,
    (() => {
      const seen: string[] = [];
      return (name: string) => {
        if (!seen.includes(name)) seen.push(name);
        return `$${seen.indexOf(name) + 1}`;
      };
    })(),
  );
  const values = paramValues(positional.names, params);
  let types: string[];
  let fields: { name: string; dataTypeID: number }[];
  try {
    // Read only, and one statement only (the extended protocol refuses several): a query that
    // closes its parenthesis and appends `; DROP TABLE ...` fails here instead of running it.
    await client.query('BEGIN READ ONLY');
    await client.query({
      text: `PREPARE mlscale_probe AS SELECT * FROM (${positional.sql}) AS mlscale_q LIMIT 0`,
      queryMode: 'extended',
    } as pg.QueryConfig);
    const res = await client.query(
      `SELECT parameter_types::text[] AS types FROM pg_prepared_statements WHERE name = 'mlscale_probe'`,
    );
    types = (res.rows[0]?.types as string[] | undefined) ?? [];
    await client.query('DEALLOCATE mlscale_probe');
    fields = (await client.query({ text: `SELECT * FROM (${positional.sql}) AS mlscale_q LIMIT 0`, values })).fields;
    await client.query('ROLLBACK');
  } catch (err) {
    if ((err as { code?: string }).code === '42601' && /multiple commands/.test((err as Error).message)) {
      throw new UsageError(
        'source.postgres.query: holds more than one SQL statement; give a single SELECT (mlscale reads, it never runs other statements).',
        { code: 'source_query' },
      );
    }
    if (err instanceof UsageError) throw err;
    if ((err as { code?: string }).code?.startsWith('08') || !(err as { code?: string }).code) throw err;
    throw queryError(err);
  }
  const columns = fields.map((f) => ({ name: f.name, oid: f.dataTypeID }));
  const bad = columns.find((c) => !PG_TYPES[c.oid]);
  if (bad) {
    const t = await client.query('SELECT format_type($1::oid, NULL) AS t', [bad.oid]);
    throw new UsageError(
      `source: column "${bad.name}" has type ${t.rows[0].t}, which mlscale does not read; cast it in the query (for example ${bad.name}::text or ${bad.name}::float8).`,
      { code: 'column_type' },
    );
  }
  const dup = columns.find((c, i) => columns.findIndex((d) => d.name === c.name) !== i);
  if (dup)
    throw new UsageError(`source.postgres.query: column "${dup.name}" appears twice; alias one of them.`, {
      code: 'column_duplicate',
    });
  const copy = rewriteParams(spec.query, (name) => {
    const i = positional.names.indexOf(name);
    const type = types[i] && types[i] !== 'unknown' ? types[i] : 'text';
    return `(current_setting('mlscale.p_${name}')::${type})`;
  });
  return { columns, copySql: copy.sql, settings: positional.names.map((name, i) => ({ name, value: values[i]! })) };
}

export interface PostgresSourceOptions {
  readonly batchSize: number;
  readonly params: Readonly<Record<string, string>>;
}

/** Opens a query as a source: checks it and reads its column types; no rows are read yet. */
export async function scanPostgres(
  spec: PostgresSourceSpec,
  options: PostgresSourceOptions,
): Promise<{
  schema: Schema;
  open(columns: readonly string[], shard?: HashShard, orderBy?: readonly string[]): Source;
}> {
  const client = await connect(spec.url, 'source');
  let p: Probe;
  try {
    p = await probe(client, spec, options.params);
  } finally {
    await client.end().catch(() => undefined);
  }
  const schema = new PgBinaryDecoder(p.columns, 1).schema;
  return {
    schema,
    open(columns, shard, orderBy) {
      const wanted = p.columns.filter((c) => columns.includes(c.name));
      let sql = `SELECT ${wanted.map((c) => ident(c.name)).join(', ')} FROM (${p.copySql}) AS mlscale_q`;
      if (shard && shard.count > 1) {
        // A stable hash of the key picks the shard: every row lands in exactly one of the N.
        const key = `ROW(${shard.key.map((k) => `mlscale_q.${ident(k)}`).join(', ')})::text`;
        sql += ` WHERE (hashtextextended(${key}, 0) & 9223372036854775807) % ${shard.count} = ${shard.index}`;
      }
      // A resumable run skips the chunks it already wrote, so the rows must come in the same order every time.
      if (orderBy?.length) sql += ` ORDER BY ${orderBy.map((k) => `mlscale_q.${ident(k)}`).join(', ')}`;
      return postgresSource(spec, sql, p.settings, wanted, options.batchSize);
    },
  };
}

function postgresSource(
  spec: PostgresSourceSpec,
  sql: string,
  settings: Probe['settings'],
  columns: Probe['columns'],
  batchSize: number,
): Source {
  return {
    schema: new PgBinaryDecoder(columns, 1).schema,
    totalRows: undefined,
    description: `${redact(spec.url)} query`,
    identity: JSON.stringify([sql, settings]),
    async *batches(signal?: AbortSignal): AsyncGenerator<RecordBatch> {
      const client = await connect(spec.url, 'source');
      const decoder = new PgBinaryDecoder(columns, batchSize);
      let stream: ReturnType<typeof copyTo> | undefined;
      // A query that has not sent its first row yet is cancelled on the server, so SIGTERM is prompt.
      const stopCancel = cancelOnAbort(client, spec.url, signal);
      try {
        // Reading runs read only: whatever the query text, it cannot change the database.
        await client.query('BEGIN READ ONLY');
        for (const s of settings)
          await client.query(`SELECT set_config($1, $2, false)`, [`mlscale.p_${s.name}`, s.value]);
        stream = client.query(copyTo(`COPY (${sql}) TO STDOUT WITH (FORMAT binary)`));
        for await (const chunk of stream) {
          signal?.throwIfAborted();
          for (const b of decoder.push(chunk as Buffer)) yield b;
        }
        const last = decoder.end();
        if (last) yield last;
      } catch (err) {
        // The cancel that an abort sends surfaces as a query error: report the abort, not the cancel.
        if (signal?.aborted) throw signal.reason;
        if (err instanceof UsageError) throw err;
        const msg = err instanceof Error ? err.message : String(err);
        throw new RuntimeFailure(`source: reading the query from ${redact(spec.url)} failed (${redact(msg)}).`, {
          code: 'source_postgres',
          cause: err,
        });
      } finally {
        stopCancel();
        // Ending the connection also cancels a COPY still running (an early stop under --limit).
        stream?.destroy();
        await client.end().catch(() => undefined);
      }
    },
    async close() {},
  };
}
