import { CRON_HINT, CRON_PATTERN, cronProblem } from './cron.js';
import type { Rule, SchemaNode } from './schema.js';
import { TIME_ZONES } from './time-zones.js';

export const ON_NULL_MODES = ['error', 'skip'] as const;
export const PROVIDERS = ['cpu', 'cuda', 'dnnl', 'openvino', 'tensorrt', 'webgpu', 'coreml'] as const;

const identifier = '^[A-Za-z_][A-Za-z0-9_]*$';

/** A table name, optionally schema-qualified; it is quoted as an identifier, never spliced. */
function tableName(description: string) {
  return {
    kind: 'string',
    description,
    pattern: `^([A-Za-z_][A-Za-z0-9_]*\\.)?[A-Za-z_][A-Za-z0-9_]*$`,
    patternHint: 'write table or schema.table with letters, digits and underscores',
  } as const satisfies SchemaNode;
}

const postgresSink = {
  kind: 'object',
  description: 'Write predictions to a PostgreSQL table with COPY, inside one transaction per run.',
  required: ['url', 'table'],
  properties: {
    url: { kind: 'string', description: 'Connection URL, usually "${DATABASE_URL}".' },
    table: tableName('Target table, optionally schema-qualified (analytics.churn_predictions). Created if missing.'),
    lock_timeout_s: {
      kind: 'number',
      description:
        "How long one request for a lock that readers could queue behind (publishing a partition, replacing the job's view) may wait; it is asked for 5 times, then the run fails naming the sessions in the way.",
      minimum: 0.05,
      default: 2,
    },
  },
} as const satisfies SchemaNode;

const objectStore = {
  endpoint: {
    kind: 'string',
    description:
      'S3-compatible endpoint URL for an s3:// path (http://minio:9000); default AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile, or AWS.',
  },
  region: {
    kind: 'string',
    description: 'Region of an s3:// path; default AWS_REGION, AWS_DEFAULT_REGION, the profile, or us-east-1.',
  },
  force_path_style: {
    kind: 'boolean',
    description:
      'Address the bucket in the path (endpoint/bucket/key), as MinIO and Ceph often need; default on for IP and localhost endpoints.',
  },
} as const;

const parquetSink = {
  kind: 'object',
  description: 'Write predictions as Parquet files into a partition directory, published by rename.',
  required: ['path'],
  properties: {
    path: {
      kind: 'string',
      description:
        'Partition directory, relative to the job file (../out/churn/ds={{ ds }}), or an s3:// prefix (s3://bucket/churn/ds={{ ds }}).',
    },
    ...objectStore,
    rows_per_file: {
      kind: 'integer',
      description: 'Rows per part file (files are written while scoring goes on).',
      minimum: 1,
      default: 262_144,
    },
    compression: {
      kind: 'string',
      description: 'Parquet codec.',
      enum: ['zstd', 'snappy', 'gzip', 'lz4', 'uncompressed'],
      default: 'zstd',
    },
  },
} as const satisfies SchemaNode;

const outputSpec = {
  kind: 'object',
  description: 'Which model output (and which column of a 2-D output) feeds this prediction column.',
  required: ['output'],
  properties: {
    output: { kind: 'string', description: 'Name of the model output tensor.' },
    column: { kind: 'integer', description: 'Column index of a 2-D [N, K] output.', minimum: 0 },
  },
} as const satisfies SchemaNode;

function onNullNode(description: string) {
  return {
    kind: 'union',
    description,
    options: [
      { kind: 'string', description: 'error or skip.', enum: ON_NULL_MODES },
      {
        kind: 'object',
        description: 'Fill missing values with a value (use .nan to let the model impute).',
        required: ['fill'],
        properties: { fill: { kind: 'scalar', description: 'Value that replaces a missing one.' } },
      },
    ],
  } as const satisfies SchemaNode;
}

export const COMBINE_MODES = ['mean', 'weighted', 'route'] as const;

function modelNode<const Extra extends Record<string, SchemaNode>>(description: string, extra: Extra) {
  return {
    kind: 'object',
    description,
    required: ['path'],
    properties: {
      path: { kind: 'string', description: 'Path to the .onnx file, relative to the job file.' },
      name: { kind: 'string', description: 'Model name recorded with every prediction (default: file stem).' },
      version: { kind: 'string', description: "Model version (default: first 12 hex chars of the file's sha256)." },
      features: {
        kind: 'array',
        description:
          'Source columns, in order, for a model with one 2-D [N, F] input (or, positionally, one per input).',
        minItems: 1,
        items: { kind: 'string', description: 'Source column name.' },
      },
      inputs: {
        kind: 'map',
        description:
          'Model input name → the source column(s) that feed it, for inputs whose names are not column names.',
        values: {
          kind: 'array',
          description: 'Source columns, in order.',
          minItems: 1,
          items: { kind: 'string', description: 'Source column name.' },
        },
      },
      outputs: {
        kind: 'map',
        description: 'Prediction columns to write (default: every tensor output by its own name).',
        keyPattern: identifier,
        values: outputSpec,
      },
      providers: {
        kind: 'array',
        description: 'onnxruntime execution providers, in order of preference.',
        minItems: 1,
        items: { kind: 'string', description: 'Execution provider.', enum: PROVIDERS },
      },
      intra_op_threads: {
        kind: 'integer',
        description: 'onnxruntime threads inside each worker.',
        minimum: 1,
        default: 1,
      },
      ...extra,
    },
    rules: [
      {
        if: { has: ['features'] },
        then: { lacks: ['inputs'] },
        at: ['inputs'],
        message: 'use either features: or inputs:, not both',
      },
    ],
  } as const satisfies SchemaNode;
}

/** Floors and ceilings on evaluated quality (monitor.min_* / monitor.max_*): `mlscale evaluate` exits 3 past one. */
export const QUALITY_GATES = {
  min_roc_auc: { metric: 'roc_auc', bound: 'min' },
  min_pr_auc: { metric: 'pr_auc', bound: 'min' },
  max_log_loss: { metric: 'log_loss', bound: 'max' },
  max_brier: { metric: 'brier', bound: 'max' },
  min_accuracy: { metric: 'accuracy', bound: 'min' },
  min_precision: { metric: 'precision', bound: 'min' },
  min_recall: { metric: 'recall', bound: 'min' },
  min_f1: { metric: 'f1', bound: 'min' },
  max_rmse: { metric: 'rmse', bound: 'max' },
  max_mae: { metric: 'mae', bound: 'max' },
  min_r2: { metric: 'r2', bound: 'min' },
  min_coverage: { metric: 'coverage', bound: 'min' },
} as const;

export type QualityGateKey = keyof typeof QUALITY_GATES;

const gateNodes = Object.fromEntries(
  Object.entries(QUALITY_GATES).map(([key, g]) => [
    key,
    {
      kind: 'number',
      description: `mlscale evaluate exits 3 when a prediction column's ${g.metric} is ${g.bound === 'min' ? 'below' : 'above'} this.`,
    },
  ]),
) as Record<QualityGateKey, { kind: 'number'; description: string }>;

export const TASKS = ['auto', 'binary', 'regression'] as const;

const labelsNode = {
  kind: 'object',
  description:
    'Where the true outcomes arrive, for `mlscale evaluate`: rows with the key columns and a label column, templated like the source.',
  required: ['column'],
  oneKeyOf: ['parquet', 'postgres'],
  properties: {
    parquet: {
      kind: 'object',
      description: 'A Parquet file, a directory of them, or a glob.',
      required: ['path'],
      properties: {
        path: { kind: 'string', description: 'File, directory or glob, relative to the job file ({{ ds }} allowed).' },
      },
    },
    postgres: {
      kind: 'object',
      description: 'A query; :ds and other :name parameters are bound from params.',
      required: ['url', 'query'],
      properties: {
        url: { kind: 'string', description: 'Connection URL, usually "${DATABASE_URL}".' },
        query: { kind: 'string', description: 'SELECT giving the key columns and the label column.' },
      },
    },
    column: {
      kind: 'string',
      description: 'The label column: 0/1 or boolean for a binary outcome, a number for a regression.',
    },
    key: {
      kind: 'array',
      description: "The labels' key columns, in the order of the job's key: (default: the job's key names).",
      minItems: 1,
      uniqueItems: true,
      items: { kind: 'string', description: 'Column name.' },
    },
    known_at: {
      kind: 'string',
      description:
        'Column saying when each outcome became known; labels known after the evaluation starts are left out.',
    },
  },
} as const satisfies SchemaNode;

const evaluateNode = {
  kind: 'object',
  description: 'How `mlscale evaluate` judges the predictions against labels:, and when `mlscale schedule` runs it.',
  properties: {
    threshold: {
      kind: 'number',
      description: 'Score at or above which a prediction counts as positive, for accuracy, precision, recall and F1.',
      minimum: 0,
      maximum: 1,
      default: 0.5,
    },
    task: {
      kind: 'string',
      description:
        'binary (a probability or score of a 0/1 outcome), regression, or auto: binary when every label is 0/1 and every score is in [0, 1].',
      enum: TASKS,
      default: 'auto',
    },
    schedule: {
      kind: 'string',
      description: 'Cron expression on which `mlscale schedule` evaluates the partition lag_days back.',
      pattern: CRON_PATTERN,
      patternHint: CRON_HINT,
      refine: cronProblem,
    },
    lag_days: {
      kind: 'integer',
      description: 'Under evaluate.schedule: evaluate the ds this many days before the tick (labels arrive late).',
      minimum: 0,
      default: 7,
    },
  },
} as const satisfies SchemaNode;

/** Keys that only mean something under combine: route. */
const ROUTE_KEYS = ['route_by', 'routes', 'default_model'] as const;

/** What one key of a job needs of the others; the same rules go into the JSON Schema. */
const jobRules: readonly Rule[] = [
  {
    if: { has: ['catchup'] },
    then: { has: ['schedule'] },
    at: ['catchup'],
    message: 'only used with schedule: (catch-up runs missed ticks); add a schedule or remove catchup',
  },
  {
    if: { has: ['combine'] },
    then: { has: ['models'] },
    at: ['combine'],
    message: 'needs several models under models:, not one model:',
  },
  {
    if: { atLeast: ['models'], items: 2 },
    then: { has: ['combine'] },
    at: ['models'],
    message: 'several models need combine: mean, weighted or route',
  },
  ...ROUTE_KEYS.map((key) => ({
    if: { has: [key] },
    then: { is: ['combine'], value: 'route' },
    at: [key],
    message: 'only used with combine: route; remove it or set combine: route',
  })),
  {
    if: { is: ['combine'], value: 'route' },
    then: { has: ['route_by'] },
    at: ['combine'],
    message: 'route needs route_by: the column whose value picks the model',
  },
  {
    if: { has: ['evaluate'] },
    then: { has: ['labels'] },
    at: ['evaluate'],
    message: 'judges predictions against labels; add a labels: block',
  },
  {
    if: { has: ['rejects', 'table'] },
    then: { has: ['sink', 'postgres'] },
    at: ['rejects', 'table'],
    message: 'a rejects table goes with the Postgres sink; with the Parquet sink write rejects: { dir: DIRECTORY }',
  },
  ...(['dir', 'file'] as const).map((key) => ({
    if: { has: ['rejects', key] },
    then: { has: ['sink', 'parquet'] },
    at: ['rejects', key],
    message: 'a rejects directory goes with the Parquet sink; with the Postgres sink write rejects: { table: NAME }',
  })),
];

export const jobSchema = {
  kind: 'object',
  description: 'An mlscale batch scoring job.',
  required: ['name', 'source', 'sink'],
  oneKeyOf: ['model', 'models'],
  properties: {
    name: {
      kind: 'string',
      description: 'Job name; names runs and locks.',
      pattern: '^[a-z0-9_]+$',
      patternHint: 'use lowercase letters, digits and underscores',
    },
    description: { kind: 'string', description: 'Free text for people.' },
    schedule: {
      kind: 'string',
      description: 'Cron expression used by `mlscale schedule` (five fields, or six with seconds first).',
      pattern: CRON_PATTERN,
      patternHint: CRON_HINT,
      refine: cronProblem,
    },
    catchup: {
      kind: 'integer',
      description:
        'After a restart, `mlscale schedule` runs up to this many missed intervals, oldest first, each with its own ds.',
      minimum: 0,
      default: 0,
    },
    timezone: {
      kind: 'string',
      description: 'IANA time zone for the schedule and the default ds.',
      enum: TIME_ZONES,
      enumName: 'an IANA time zone such as UTC or Europe/Paris',
      default: 'UTC',
    },
    params: {
      kind: 'map',
      description: 'Parameter defaults, overridden by --param k=v; used as {{ name }} in any string. Built in: ds.',
      keyPattern: identifier,
      values: { kind: 'scalar', description: 'Parameter value.' },
    },
    model: modelNode('The ONNX model and how its inputs and outputs map to columns.', {}),
    models: {
      kind: 'array',
      description: 'Several models in one job, combined per `combine`.',
      minItems: 1,
      items: modelNode('One model of an ensemble or a routed set.', {
        weight: { kind: 'number', description: 'Weight of this model under combine: weighted.', minimum: 0 },
      }),
    },
    challengers: {
      kind: 'array',
      description:
        'Models scored on the same rows by the same `mlscale score`, after the champion has published, each written beside the published predictions (never into them); `mlscale evaluate` measures them on the same labels.',
      minItems: 1,
      items: modelNode('A challenger model.', {
        table: tableName(
          "With the Postgres sink: the challenger's table (default: the sink table's name + _challenger_ + the challenger's name).",
        ),
        dir: {
          kind: 'string',
          description:
            "With the Parquet sink: the root of the challenger's tree, beside the sink's root (default: the sink's root + _challenger_ + the challenger's name); each partition's path under the sink's root is repeated under it.",
        },
        required: {
          kind: 'boolean',
          description:
            "A failure of this challenger makes `mlscale score` exit with the challenger's error (the champion's predictions stay published); otherwise it is reported and the command succeeds.",
          default: false,
        },
      }),
    },
    combine: {
      kind: 'string',
      description:
        'How several models make one prediction: mean or weighted (of each prediction column), or route (one model per row by route_by).',
      enum: COMBINE_MODES,
    },
    route_by: { kind: 'string', description: 'Source column whose value picks the model under combine: route.' },
    routes: {
      kind: 'map',
      description: 'route_by value → model name, under combine: route.',
      values: { kind: 'string', description: 'Model name (models[].name).' },
    },
    default_model: {
      kind: 'string',
      description:
        'Model for rows whose route_by value is not in routes (or is null); without it such rows are rejected.',
    },
    source: {
      kind: 'object',
      description: 'Where the rows to score come from.',
      oneKeyOf: ['parquet', 'postgres'],
      properties: {
        postgres: {
          kind: 'object',
          description: 'A query, streamed with binary COPY. Use :name for parameters (bound, never spliced).',
          required: ['url', 'query'],
          properties: {
            url: { kind: 'string', description: 'Connection URL, usually "${DATABASE_URL}".' },
            query: {
              kind: 'string',
              description: 'SELECT ... ; :ds and other :name parameters are bound from params.',
            },
          },
        },
        parquet: {
          kind: 'object',
          description: 'A Parquet file, a directory of them, or a glob.',
          required: ['path'],
          properties: {
            path: {
              kind: 'string',
              description:
                'File, directory or glob, relative to the job file, or an s3:// key, prefix or glob over keys.',
            },
            ...objectStore,
          },
        },
      },
    },
    key: {
      kind: 'array',
      description: 'Columns carried to the output unchanged (leave key: out for none).',
      minItems: 1,
      uniqueItems: true,
      items: { kind: 'string', description: 'Source column name.' },
    },
    on_null: onNullNode(
      'What to do with a missing feature value (null, NaN or infinity): fail (exit 3), skip the row (counted as rejected), or fill it.',
    ),
    on_null_features: {
      kind: 'map',
      description: 'Per-feature on_null, overriding on_null for the columns named.',
      values: onNullNode('What to do with a missing value in this column.'),
    },
    rejects: {
      kind: 'object',
      description:
        'Write rejected rows (key columns and the reason) where analysts can see them, published with the predictions.',
      oneKeyOf: ['table', 'dir', 'file'],
      properties: {
        table: tableName('With the Postgres sink: a table in the same database (schema.table), created if missing.'),
        dir: {
          kind: 'string',
          description:
            "With the Parquet sink: the root of a tree of rejected rows beside the sink's root (not inside it, so globs over the predictions never read them); each partition's path under the sink's root is repeated under it.",
        },
        file: {
          kind: 'string',
          description: 'Replaced by dir: rejected rows no longer go inside the partition directory.',
        },
      },
    },
    allow_empty: {
      kind: 'boolean',
      description:
        'Let a run that writes no rows (an empty source, every row rejected) replace a partition that holds rows; otherwise it fails with exit 3 and publishes nothing.',
      default: false,
    },
    max_reject_rate: {
      kind: 'number',
      description: 'Fail the run (exit 3, nothing published) when more than this share of rows is rejected.',
      minimum: 0,
      maximum: 1,
      default: 0.01,
    },
    monitor: {
      kind: 'object',
      description:
        'Drift monitoring (the population stability index of every prediction column and feature against a baseline run) and quality gates on what `mlscale evaluate` measures (min_roc_auc, max_log_loss, min_coverage, ...).',
      properties: {
        baseline: {
          kind: 'string',
          description:
            "previous (the job's nearest earlier partition, all its shards together) or a run id (several shards' ids joined with +).",
          default: 'previous',
        },
        max_psi: { kind: 'number', description: 'PSI above which a column has drifted.', minimum: 0, default: 0.2 },
        on_drift: {
          kind: 'string',
          description: 'warn: log it; fail: exit 3, nothing published.',
          enum: ['warn', 'fail'],
          default: 'warn',
        },
        ...gateNodes,
      },
    },
    labels: labelsNode,
    evaluate: evaluateNode,
    batch_size: { kind: 'integer', description: 'Rows per chunk.', minimum: 1, maximum: 1_000_000, default: 8192 },
    parallelism: {
      kind: 'integer',
      description: 'The most scoring worker threads, started as inference needs them (default: number of CPUs).',
      minimum: 1,
      maximum: 256,
    },
    sink: {
      kind: 'object',
      description: 'Where the predictions go.',
      oneKeyOf: ['postgres', 'parquet'],
      properties: { postgres: postgresSink, parquet: parquetSink },
    },
    partition: { kind: 'string', description: 'What a re-run replaces (default: the ds).' },
    checkpoint_rows: {
      kind: 'integer',
      description:
        'Make progress durable about every this many rows, so `mlscale score --resume` can continue a failed run instead of starting over (costs a second write in Postgres).',
      minimum: 1000,
    },
    retries: {
      kind: 'integer',
      description:
        'How many times a run that failed on a dropped connection or a restarting server starts over (each attempt publishes all or nothing).',
      minimum: 0,
      maximum: 20,
      default: 2,
    },
    retry_backoff_s: {
      kind: 'number',
      description: 'Seconds before the first retry; doubled for each next one.',
      minimum: 0,
      default: 1,
    },
  },
  rules: jobRules,
} as const satisfies SchemaNode;
