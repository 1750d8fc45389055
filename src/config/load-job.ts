import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { LineCounter, parseDocument, isMap, isPair, isScalar, isSeq, type Document } from 'yaml';
import { UsageError } from '../errors.js';
import { redact, registerConnectionString } from '../redact.js';
import type {
  ChallengerSpec,
  Combine,
  Job,
  JobOverrides,
  LabelsSpec,
  ModelSpec,
  OnNull,
  SinkSpec,
  SourceSpec,
} from './job.js';
import { jobSchema, QUALITY_GATES, type QualityGateKey } from './job-schema.js';
import { check, type Infer, type Path } from './schema.js';
import { MAX_SINK_TABLE_NAME, reservedTable } from '../output/tables.js';
import { METADATA_NAMES } from '../output/columns.js';
import { resolveObjectPath, resolveOutputPath, resolveRejectsDir } from './output-path.js';
import { isS3 } from '../s3/s3-url.js';
import type { S3Options } from '../s3/credentials.js';
import { expandEnv, expandParams, todayIn } from './template.js';

/** Reads, checks and resolves a job file into a frozen Job. Every problem is a UsageError (exit 2). */
export async function loadJob(
  file: string,
  overrides: JobOverrides = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<Job> {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new UsageError(`job file ${file} does not exist; check the --job path.`, { code: 'job_missing' });
    if (code === 'EISDIR')
      throw new UsageError(`job file ${file} is a directory; pass the path of a .yaml file.`, { code: 'job_missing' });
    throw new UsageError(`job file ${file} cannot be read (${code ?? String(err)}); check its permissions.`, {
      code: 'job_unreadable',
      cause: err,
    });
  }
  return parseJob(text, abs, overrides, env);
}

/** As loadJob, from text already in memory; `file` anchors relative paths and names the job in messages. */
export function parseJob(
  text: string,
  file: string,
  overrides: JobOverrides = {},
  env: NodeJS.ProcessEnv = process.env,
): Job {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const label = path.basename(file);
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lineCounter.linePos(e.pos[0]);
    const reason = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new UsageError(`${label}:${pos.line}:${pos.col}: YAML syntax error: ${reason}; fix the YAML at that line.`, {
      code: 'yaml_syntax',
    });
  }
  const raw: unknown = doc.toJS();
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new UsageError(`${label}: a job file must be a YAML mapping with at least name, model, source and sink.`, {
      code: 'job_invalid',
    });
  }
  const checked = check(jobSchema, raw);
  if (!checked.ok) {
    const lines = checked.issues.map((issue) => `${label}:${where(doc, lineCounter, issue.path)} ${issue.message}.`);
    throw new UsageError(lines.join('\n'), { code: 'job_invalid' });
  }
  return deepFreeze(resolveJob(checked.value, file, overrides, env));
}

function where(doc: Document, lc: LineCounter, p: Path): string {
  let node: unknown = doc.contents;
  let offset: number | undefined = (node as { range?: [number] } | null)?.range?.[0];
  for (const part of p) {
    if (isMap(node)) {
      const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && it.key.value === part);
      if (!pair) break;
      offset = (pair.key as { range?: [number] }).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof part === 'number') {
      node = node.items[part];
      offset = (node as { range?: [number] } | undefined)?.range?.[0] ?? offset;
    } else break;
  }
  if (offset === undefined) return '';
  const pos = lc.linePos(offset);
  return `${pos.line}:${pos.col}:`;
}

/** The job file as checked against jobSchema, before resolution; derived from the declaration, never hand-copied. */
type RawJob = Infer<typeof jobSchema>;
/** An entry of `models:`; a single `model:` has the same shape less `weight`, so it is one too. */
type RawModel = NonNullable<RawJob['models']>[number];
type RawOnNull = NonNullable<RawJob['on_null']>;

function toOnNull(raw: RawOnNull | undefined): OnNull {
  if (raw === 'skip') return { mode: 'skip' };
  if (typeof raw === 'object') return { mode: 'fill', value: raw.fill };
  return { mode: 'error' };
}

function resolveJob(raw: RawJob, file: string, overrides: JobOverrides, env: NodeJS.ProcessEnv): Job {
  const label = path.basename(file);
  const dir = path.dirname(file);
  const at = (p: string) => `${label}: ${p}`;
  const str = (value: string, p: string) => expandParams(expandEnv(value, env, at(p)), params, at(p));

  const timezone = raw.timezone ?? 'UTC';
  // The schema names only zones this project's Node knew; an older ICU may lack one of them.
  try {
    if (timezone !== 'UTC') new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new UsageError(
      `${at('timezone')}: "${timezone}" is not an IANA time zone; use a name such as UTC or Europe/Paris.`,
    );
  }

  // Parameters: job defaults, then --param, then the built-in ds; values may use ${VAR} and {{ ds }}.
  const merged: Record<string, string> = {};
  // What the ledger keeps of each parameter: a value from the environment as its ${NAME}
  // reference (it may be a secret), anything else with connection-string passwords hidden.
  const recorded: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw.params ?? {})) {
    merged[k] = expandEnv(String(v), env, at(`params.${k}`));
    recorded[k] = /\$\{/.test(String(v)) ? String(v) : redact(merged[k]!);
  }
  for (const [k, v] of Object.entries(overrides.params ?? {})) {
    merged[k] = v;
    recorded[k] = redact(v);
  }
  const ds = merged.ds ?? todayIn(timezone);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(ds) || Number.isNaN(Date.parse(`${ds}T00:00:00Z`))) {
    throw new UsageError(`parameter ds: "${ds}" is not a date; use YYYY-MM-DD, e.g. --param ds=2024-01-31.`);
  }
  const params: Record<string, string> = { ...merged, ds };
  for (const k of Object.keys(params))
    if (k !== 'ds') params[k] = expandParams(params[k]!, { ...params }, at(`params.${k}`));
  recorded.ds = ds;
  for (const k of Object.keys(recorded))
    if (k !== 'ds') recorded[k] = expandParams(recorded[k]!, { ...recorded }, at(`params.${k}`));

  const models = (raw.models ?? [raw.model!]).map((m, i) =>
    resolveModel(m, raw.models ? `models[${i}]` : 'model', dir, str),
  );
  const combine = resolveCombine(raw, models, at);

  const onNull = toOnNull(raw.on_null);
  const onNullFeatures = Object.fromEntries(
    Object.entries(raw.on_null_features ?? {}).map(([k, v]) => [k, toOnNull(v)]),
  );

  let sink: SinkSpec;
  if (raw.sink.postgres) {
    const table = str(raw.sink.postgres.table, 'sink.postgres.table');
    const [schema, name] = table.includes('.') ? (table.split('.') as [string, string]) : ['public', table];
    // PostgreSQL cuts names at 63 bytes: the tables and views mlscale names after the table would
    // be cut onto other names (the view onto the table itself).
    if (Buffer.byteLength(name) > MAX_SINK_TABLE_NAME)
      throw new UsageError(
        `${at('sink.postgres.table')}: "${name}" is ${Buffer.byteLength(name)} bytes; a sink table's name may have at most ${MAX_SINK_TABLE_NAME}, so that the tables and views mlscale names after it (…_p<hash> for a partition, …_latest) fit PostgreSQL's 63-byte names; choose a shorter name.`,
      );
    const reserved = reservedTable(name, name);
    if (reserved) throw new UsageError(`${at('sink.postgres.table')}: ${reserved}; name another table.`);
    const url = str(raw.sink.postgres.url, 'sink.postgres.url');
    registerConnectionString(url);
    const lockTimeout = raw.sink.postgres.lock_timeout_s;
    sink = {
      kind: 'postgres',
      url,
      schema,
      table: name,
      ...(lockTimeout !== undefined ? { lockTimeoutMs: lockTimeout * 1000 } : {}),
    };
  } else {
    const pq = raw.sink.parquet!;
    const where = at('sink.parquet.path');
    const onStore = isS3(expandEnv(pq.path, env, where));
    sink = {
      kind: 'parquet',
      ...(onStore
        ? resolveObjectPath(pq.path, env, params, where)
        : resolveOutputPath(pq.path, dir, env, params, where)),
      rowsPerFile: pq.rows_per_file ?? 262_144,
      compression: pq.compression ?? 'zstd',
      ...(onStore ? { s3: storeOptions(pq) } : {}),
    };
    if (onStore && raw.rejects)
      throw new UsageError(
        `${at('rejects')}: rejected rows are not yet written to object storage; leave rejects: out of a job whose sink is an s3:// path.`,
        { code: 's3_unsupported' },
      );
    if (onStore && raw.checkpoint_rows !== undefined)
      throw new UsageError(
        `${at('checkpoint_rows')}: a run into an s3:// sink cannot be resumed yet; leave checkpoint_rows out (a failed run is run again whole).`,
        { code: 's3_unsupported' },
      );
    // evaluate reads a partition's files, and a challenger's tree sits beside the sink's root:
    // neither is done on a store yet, and a half-working version would read or write the wrong place.
    if (onStore && raw.challengers?.length)
      throw new UsageError(
        `${at('challengers')}: challengers are not yet scored into an s3:// sink; leave challengers: out of a job whose sink is an s3:// path (or score them with a job of their own).`,
        { code: 's3_unsupported' },
      );
    if (onStore && (raw.labels || raw.evaluate))
      throw new UsageError(
        `${at(raw.labels ? 'labels' : 'evaluate')}: mlscale evaluate does not yet read predictions published to an s3:// sink; leave labels: and evaluate: out of a job whose sink is an s3:// path.`,
        { code: 's3_unsupported' },
      );
  }

  const key = (raw.key ?? []).map((k, i) => str(k, `key[${i}]`));
  const dupKey = key.find((k, i) => key.indexOf(k) !== i);
  if (dupKey) throw new UsageError(`${at('key')}: column "${dupKey}" is listed twice; list each key column once.`);
  // The sinks write these on every row: a key of the same name would be overwritten by them.
  const metaKey = key.find((k) => (METADATA_NAMES as readonly string[]).includes(k));
  if (metaKey)
    throw new UsageError(
      `${at('key')}: column "${metaKey}" has the name of a column mlscale writes on every row (${METADATA_NAMES.join(', ')}); rename it in the source or leave it out of key.`,
      { code: 'key_clash' },
    );

  const source = resolveSource(raw, dir, str, at);
  const challengers = (raw.challengers ?? []).map((c, i) =>
    resolveChallenger(raw.name, c, i, models, sink, dir, env, str, at),
  );
  const dupChallenger = challengers.find((c, i) => challengers.findIndex((o) => o.job === c.job) !== i);
  if (dupChallenger)
    throw new UsageError(
      `${at('challengers')}: two challengers are named "${dupChallenger.model.name}"; give each a distinct name:.`,
    );
  return {
    name: raw.name,
    ...(raw.description !== undefined ? { description: raw.description } : {}),
    file,
    ...(raw.schedule !== undefined ? { schedule: raw.schedule } : {}),
    catchup: raw.catchup ?? 0,
    timezone,
    params,
    ds,
    models,
    combine,
    challengers,
    source,
    // After the source and sink URLs registered their passwords: a password passed as a
    // parameter into a URL template ({{ pw }}) is hidden in the record too.
    recordedParams: Object.fromEntries(Object.entries(recorded).map(([k, v]) => [k, redact(v)])),
    key,
    onNull,
    onNullFeatures,
    maxRejectRate: raw.max_reject_rate ?? 0.01,
    allowEmpty: raw.allow_empty ?? false,
    ...(raw.rejects ? { rejects: resolveRejects(raw, sink, at, dir, env) } : {}),
    // A monitor: with quality gates only leaves the drift check off; one with drift keys (or none) keeps it.
    ...(raw.monitor && (hasDriftKey(raw.monitor) || gateKeys(raw.monitor).length === 0)
      ? {
          monitor: {
            baseline: raw.monitor.baseline ?? 'previous',
            maxPsi: raw.monitor.max_psi ?? 0.2,
            onDrift: raw.monitor.on_drift ?? 'warn',
          },
        }
      : {}),
    ...(raw.labels ? { labels: resolveLabels(raw, key, dir, str, at) } : {}),
    evaluation: {
      threshold: raw.evaluate?.threshold ?? 0.5,
      task: raw.evaluate?.task ?? 'auto',
      ...(raw.evaluate?.schedule !== undefined ? { schedule: raw.evaluate.schedule } : {}),
      lagDays: raw.evaluate?.lag_days ?? 7,
    },
    qualityGates: gateKeys(raw.monitor ?? {}).map((k) => ({
      key: k,
      metric: QUALITY_GATES[k].metric,
      bound: QUALITY_GATES[k].bound,
      value: raw.monitor![k]!,
    })),
    batchSize: overrides.batchSize ?? raw.batch_size ?? 8192,
    parallelism: overrides.parallelism ?? raw.parallelism ?? availableParallelism(),
    sink,
    partition: raw.partition !== undefined ? str(raw.partition, 'partition') : ds,
    shard: overrides.shard ?? { index: 0, count: 1 },
    ...(raw.checkpoint_rows !== undefined ? { checkpointRows: raw.checkpoint_rows } : {}),
    retries: raw.retries ?? 2,
    retryBackoffSeconds: raw.retry_backoff_s ?? 1,
  };
}

type Str = (value: string, p: string) => string;

type RawChallenger = NonNullable<RawJob['challengers']>[number];

/** A challenger: its model, and a job name and sink of its own beside the champion's. */
function resolveChallenger(
  jobName: string,
  c: RawChallenger,
  i: number,
  champions: readonly ModelSpec[],
  sink: SinkSpec,
  dir: string,
  env: NodeJS.ProcessEnv,
  str: Str,
  at: (p: string) => string,
): ChallengerSpec {
  const key = `challengers[${i}]`;
  const model = resolveModel(c, key, dir, str);
  if (champions.some((m) => m.name === model.name))
    throw new UsageError(
      `${at(`${key}.name`)}: "${model.name}" is the champion's name; give the challenger a name of its own (name:).`,
    );
  const safe = model.name.toLowerCase().replace(/[^a-z0-9_]+/g, '_');
  const job = `${jobName}_challenger_${safe}`;
  const required = c.required ?? false;
  if (sink.kind === 'postgres') {
    if (c.dir !== undefined)
      throw new UsageError(
        `${at(`${key}.dir`)}: a challenger directory goes with the Parquet sink; with the Postgres sink write table:.`,
      );
    const table = c.table ?? `${sink.table}_challenger_${safe}`;
    const [schema, name] = table.includes('.') ? (table.split('.') as [string, string]) : [sink.schema, table];
    if (Buffer.byteLength(name) > MAX_SINK_TABLE_NAME)
      throw new UsageError(
        `${at(key)}: the challenger's table "${name}" is ${Buffer.byteLength(name)} bytes, over the ${MAX_SINK_TABLE_NAME} a sink table may have; name a shorter one with ${key}.table.`,
      );
    const reserved =
      reservedTable(name, sink.table) ??
      (schema === sink.schema && name === sink.table ? `${name} is the published predictions' table` : undefined);
    if (reserved) throw new UsageError(`${at(`${key}.table`)}: ${reserved}; name another table for the challenger.`);
    return { model, job, required, sink: { ...sink, schema, table: name } };
  }
  if (c.table !== undefined)
    throw new UsageError(
      `${at(`${key}.table`)}: a challenger table goes with the Postgres sink; with the Parquet sink write dir:.`,
    );
  if (c.dir === undefined && path.parse(sink.root).root === sink.root)
    throw new UsageError(
      `${at(key)}: the sink's root is ${sink.root}, so the challenger's tree would be ${path.join(sink.root, `_challenger_${safe}`)}; name its directory with ${key}.dir.`,
    );
  const root =
    c.dir !== undefined
      ? resolveRejectsDir(c.dir, sink.root, dir, env, at(`${key}.dir`))
      : `${sink.root}_challenger_${safe}`;
  return {
    model,
    job,
    required,
    sink: { ...sink, root, path: path.join(root, path.relative(sink.root, sink.path)) },
  };
}

type RawMonitor = NonNullable<RawJob['monitor']>;
const hasDriftKey = (m: RawMonitor) => ['baseline', 'max_psi', 'on_drift'].some((k) => k in m);
const gateKeys = (m: RawMonitor) => (Object.keys(QUALITY_GATES) as QualityGateKey[]).filter((k) => m[k] !== undefined);

function resolveLabels(
  raw: RawJob,
  jobKey: readonly string[],
  dir: string,
  str: Str,
  at: (p: string) => string,
): LabelsSpec {
  const l = raw.labels!;
  const key = l.key?.map((k, i) => str(k, `labels.key[${i}]`)) ?? jobKey;
  if (jobKey.length === 0)
    throw new UsageError(
      `${at('labels')}: labels are joined to predictions by the key columns; list them under key: (the job has none).`,
      { code: 'labels_key' },
    );
  if (key.length !== jobKey.length)
    throw new UsageError(
      `${at('labels.key')}: lists ${key.length} column(s) but the job's key: has ${jobKey.length} (${jobKey.join(', ')}); name one label column per key column, in the same order.`,
      { code: 'labels_key' },
    );
  let source: SourceSpec;
  if (l.parquet) {
    const p = str(l.parquet.path, 'labels.parquet.path');
    if (/^s3:\/\//i.test(p))
      throw new UsageError(
        `${at('labels.parquet.path')}: labels are not yet read from object storage (${p}); copy them to a local path or load them into Postgres and use labels.postgres.`,
        { code: 's3_unsupported' },
      );
    source = { kind: 'parquet', path: path.isAbsolute(p) ? p : path.join(dir, p) };
  } else {
    const pg = l.postgres!;
    if (/\{\{|\$\{/.test(pg.query))
      throw new UsageError(
        `${at('labels.postgres.query')}: {{ }} and \${} would splice values into SQL; write :name instead (parameters are bound).`,
        { code: 'query_template' },
      );
    const url = str(pg.url, 'labels.postgres.url');
    registerConnectionString(url);
    source = { kind: 'postgres', url, query: pg.query };
  }
  return {
    source,
    column: str(l.column, 'labels.column'),
    key,
    ...(l.known_at !== undefined ? { knownAt: str(l.known_at, 'labels.known_at') } : {}),
  };
}

function resolveModel(m: RawModel, key: string, dir: string, str: Str): ModelSpec {
  const modelPath = path.resolve(dir, str(m.path, `${key}.path`));
  const features = m.features?.map((f, i) => str(f, `${key}.features[${i}]`));
  const inputs = m.inputs
    ? Object.fromEntries(
        Object.entries(m.inputs).map(([input, cols]) => [
          input,
          cols.map((c, i) => str(c, `${key}.inputs.${input}[${i}]`)),
        ]),
      )
    : undefined;
  const outputs = m.outputs
    ? Object.fromEntries(
        Object.entries(m.outputs).map(([col, spec]) => [
          col,
          {
            output: str(spec.output, `${key}.outputs.${col}.output`),
            ...(spec.column !== undefined ? { column: spec.column } : {}),
          },
        ]),
      )
    : undefined;
  return {
    path: modelPath,
    name: m.name !== undefined ? str(m.name, `${key}.name`) : path.basename(modelPath).replace(/\.onnx$/i, ''),
    ...(m.version !== undefined ? { version: str(m.version, `${key}.version`) } : {}),
    ...(features ? { features } : {}),
    ...(inputs ? { inputs } : {}),
    ...(outputs ? { outputs } : {}),
    providers: m.providers ?? ['cpu'],
    intraOpThreads: m.intra_op_threads ?? 1,
    weight: m.weight ?? 1,
  };
}

function resolveCombine(raw: RawJob, models: readonly ModelSpec[], at: (p: string) => string): Combine {
  const names = models.map((m) => m.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new UsageError(`${at('models')}: two models are named "${dup}"; give each a distinct name:.`);
  // The schema's rules have paired combine with models: and the route keys with combine: route.
  if (!raw.models || !raw.combine) return { mode: 'single' };
  if (raw.combine === 'weighted') {
    const missing = raw.models.findIndex((m) => m.weight === undefined);
    if (missing >= 0)
      throw new UsageError(`${at(`models[${missing}].weight`)}: combine: weighted needs a weight on every model.`);
    if (models.every((m) => m.weight === 0))
      throw new UsageError(`${at('models')}: combine: weighted needs at least one weight above 0.`);
  }
  if (raw.combine !== 'route') return { mode: raw.combine };
  if (!raw.route_by)
    throw new UsageError(`${at('route_by')}: combine: route needs route_by: the column whose value picks the model.`);
  const index = (name: string, where: string) => {
    const i = names.indexOf(name);
    if (i < 0) throw new UsageError(`${at(where)}: no model is named "${name}" (have: ${names.join(', ')}).`);
    return i;
  };
  const routes = Object.fromEntries(
    Object.entries(raw.routes ?? {}).map(([value, name]) => [value, index(name, `routes.${value}`)]),
  );
  if (Object.keys(routes).length === 0 && raw.default_model === undefined)
    throw new UsageError(`${at('routes')}: combine: route needs routes: (value: model) or a default_model.`);
  return {
    mode: 'route',
    by: raw.route_by,
    routes,
    ...(raw.default_model !== undefined ? { defaultModel: index(raw.default_model, 'default_model') } : {}),
  };
}

function resolveRejects(
  raw: RawJob,
  sink: SinkSpec,
  at: (p: string) => string,
  dir: string,
  env: NodeJS.ProcessEnv,
): NonNullable<Job['rejects']> {
  const r = raw.rejects!;
  if (r.table !== undefined) {
    if (sink.kind !== 'postgres')
      throw new UsageError(
        `${at('rejects.table')}: a rejects table goes with the Postgres sink; with the Parquet sink write rejects: { dir: DIRECTORY }.`,
      );
    const [schema, table] = r.table.includes('.') ? (r.table.split('.') as [string, string]) : [sink.schema, r.table];
    const reserved =
      reservedTable(table, sink.table) ??
      (schema === sink.schema && table === sink.table ? `${table} is the sink's own table` : undefined);
    if (reserved) throw new UsageError(`${at('rejects.table')}: ${reserved}; name another table for the rejects.`);
    return { schema, table };
  }
  const key = r.dir !== undefined ? 'rejects.dir' : 'rejects.file';
  if (sink.kind !== 'parquet')
    throw new UsageError(
      `${at(key)}: a rejects directory goes with the Parquet sink; with the Postgres sink write rejects: { table: NAME }.`,
    );
  return { dir: resolveRejectsDir(r.dir, sink.root, dir, env, at(key)) };
}

function resolveSource(raw: RawJob, dir: string, str: Str, at: (p: string) => string): SourceSpec {
  if (raw.source.parquet) {
    const p = str(raw.source.parquet.path, 'source.parquet.path');
    if (isS3(p)) return { kind: 'parquet', path: p, s3: storeOptions(raw.source.parquet) };
    return { kind: 'parquet', path: path.isAbsolute(p) ? p : path.join(dir, p) };
  }
  const pg = raw.source.postgres!;
  if (/\{\{|\$\{/.test(pg.query)) {
    throw new UsageError(
      `${at('source.postgres.query')}: {{ }} and \${} would splice values into SQL; write :name instead (parameters are bound).`,
      { code: 'query_template' },
    );
  }
  const url = str(pg.url, 'source.postgres.url');
  registerConnectionString(url);
  return { kind: 'postgres', url, query: pg.query };
}

/** The job's endpoint, region and addressing for an s3:// path. */
function storeOptions(raw: { endpoint?: string; region?: string; force_path_style?: boolean }): S3Options {
  return {
    ...(raw.endpoint !== undefined ? { endpoint: raw.endpoint } : {}),
    ...(raw.region !== undefined ? { region: raw.region } : {}),
    ...(raw.force_path_style !== undefined ? { forcePathStyle: raw.force_path_style } : {}),
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
