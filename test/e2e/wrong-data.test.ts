import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  DataType,
  Dictionary,
  Float32,
  Int32,
  Int64,
  Table,
  TimestampMicrosecond,
  TimestampNanosecond,
  Utf8,
  Vector,
  makeData,
  makeVector,
  vectorFromArray,
} from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine, mlscale } from '../support/cli.js';
import { readParquetTable, writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';
import { databaseUrl, query, skipPg, tempSchema } from '../support/pg.js';
// @ts-expect-error plain ESM script shared with the demo and the benchmark
import { logisticModel } from '../../scripts/lib/onnx-builder.mjs';

// Never wrong data with exit 0: non-finite predictions are rejected, existing tables of other
// types are refused instead of having their bytes reinterpreted, missing grants are named.

const s = scratchDir('wrong');
const N = 1000;
const env = { DATABASE_URL: databaseUrl };

const job = (
  name: string,
  model: string,
  sink: string,
  extra = '',
  o: { source?: string; key?: string; batchSize?: number } = {},
) =>
  s.file(
    `${name}.yaml`,
    `name: ${name}
params: { ds: "2024-01-01" }
model:
  path: ${model}
  features: [f0, f1, f2]
source:
  parquet: { path: ${o.source ?? 'data'} }
key: [${o.key ?? 'id'}]
batch_size: ${o.batchSize ?? 256}
parallelism: 1
sink:
  ${sink}
${extra}`,
  );

beforeAll(() => {
  // f0 is 0 on every tenth row: a model weighing f0 by infinity returns NaN there (0 × ∞).
  writeParquet(
    path.join(s.dir, 'data', 'part-0.parquet'),
    new Table({
      id: makeVector(BigInt64Array.from({ length: N }, (_, i) => BigInt(i))),
      f0: makeVector(Float32Array.from({ length: N }, (_, i) => (i % 10) - 5)),
      f1: vectorFromArray(
        Array.from({ length: N }, (_, i) => (i % 7) / 7),
        new Float32(),
      ),
      f2: vectorFromArray(
        Array.from({ length: N }, (_, i) => (i % 3) / 3),
        new Float32(),
      ),
    }),
    250,
  );
  writeFileSync(path.join(s.dir, 'inf.onnx'), logisticModel({ weights: [Infinity, 0, 0], bias: 0, inputName: 'x' }));
  writeFileSync(path.join(s.dir, 'nan.onnx'), logisticModel({ weights: [NaN, 0, 0], bias: 0, inputName: 'x' }));
  writeFileSync(path.join(s.dir, 'ok.onnx'), logisticModel({ weights: [0.3, -0.2, 0.1], bias: 0, inputName: 'x' }));
});
afterAll(() => s.remove());

describe('non-finite predictions are rejected, never published', () => {
  it('rows whose score is NaN are rejected with the output named; the rest publish', async () => {
    const file = job(
      'partnan',
      'inf.onnx',
      'parquet: { path: "out/partnan/ds={{ ds }}" }',
      'max_reject_rate: 0.2\nrejects: { dir: out/partnan_rejects }',
    );
    const r = await mlscale(['score', '--job', file, '--json'], { cwd: s.dir });
    expect(errorLine(r)).toBe('');
    const result = JSON.parse(r.stdout);
    expect([result.rowsRead, result.rowsRejected, result.rowsWritten]).toEqual([N, N / 10, N - N / 10]);
    const dir = path.join(s.dir, 'out', 'partnan', 'ds=2024-01-01');
    const data = readParquetTable(path.join(dir, 'part-00000.parquet'));
    const scores = Array.from(data.getChild('score')!, Number);
    expect(scores.every(Number.isFinite)).toBe(true);
    expect(Array.from(data.getChild('id')!, Number).some((id) => id % 10 === 5)).toBe(false);
    const rej = readParquetTable(path.join(s.dir, 'out', 'partnan_rejects', 'ds=2024-01-01', 'part-00000.parquet'));
    expect(Array.from(rej.getChild('id')!, Number)).toEqual(Array.from({ length: N / 10 }, (_, i) => i * 10 + 5));
    expect(new Set(Array.from(rej.getChild('reason')!))).toEqual(
      new Set(['prediction "score" (model output "score") is NaN']),
    );
  });

  it('a model that returns NaN for every row fails the reject gate (exit 3) and publishes nothing', async () => {
    const file = job('allnan', 'nan.onnx', 'parquet: { path: "out/allnan/ds={{ ds }}" }');
    const r = await mlscale(['score', '--job', file], { cwd: s.dir });
    expect(r.code).toBe(3);
    expect(errorLine(r)).toBe(
      `error: quality gate: ${N} of ${N} rows (100.00%) were rejected (missing feature values, no route or non-finite predictions), over max_reject_rate 0.01; nothing was published. Fix the data, or raise max_reject_rate.`,
    );
    expect(existsSync(path.join(s.dir, 'out', 'allnan', 'ds=2024-01-01'))).toBe(false);
  });
});

describe('a categorical (dictionary-encoded) numeric feature is read by its values', () => {
  // pandas writes a Categorical column as an Arrow dictionary: its buffer holds indices into the
  // dictionary. Read as numbers directly, the model was fed 0, 1, 2 instead of -5, 0.5, 3 (exit 0).
  const values = [-5, 0.5, 3, NaN];
  const plain = (i: number) => values[i % 4]!;
  const twin = (dictionary: boolean) =>
    new Table({
      id: makeVector(BigInt64Array.from({ length: N }, (_, i) => BigInt(i))),
      f0: dictionary
        ? vectorFromArray(
            Array.from({ length: N }, (_, i) => plain(i)),
            new Dictionary(new Float32(), new Int32()),
          )
        : makeVector(Float32Array.from({ length: N }, (_, i) => plain(i))),
      f1: dictionary
        ? vectorFromArray(
            Array.from({ length: N }, (_, i) => (i % 5) * 2),
            new Dictionary(new Int32(), new Int32()),
          )
        : makeVector(Int32Array.from({ length: N }, (_, i) => (i % 5) * 2)),
      f2: makeVector(Float32Array.from({ length: N }, (_, i) => (i % 3) / 3)),
    });

  it('scores, rejects its NaN and counts its statistics as the same values stored plainly', async () => {
    writeParquet(path.join(s.dir, 'cat', 'dict', 'part-0.parquet'), twin(true));
    writeParquet(path.join(s.dir, 'cat', 'plain', 'part-0.parquet'), twin(false));
    const read = readParquetTable(path.join(s.dir, 'cat', 'dict', 'part-0.parquet'));
    expect(String(read.getChild('f0')!.type)).toMatch(/^Dictionary</);
    const run = async (which: string) => {
      const file = job(
        `cat_${which}`,
        'ok.onnx',
        `parquet: { path: "out/cat_${which}/ds={{ ds }}" }`,
        'on_null: skip\nmax_reject_rate: 0.3',
        { source: `cat/${which}` },
      );
      const r = await mlscale(['score', '--job', file, '--json'], { cwd: s.dir });
      expect(errorLine(r)).toBe('');
      const result = JSON.parse(r.stdout);
      const data = readParquetTable(path.join(s.dir, 'out', `cat_${which}`, 'ds=2024-01-01', 'part-00000.parquet'));
      return { result, scores: Array.from(data.getChild('score')!, Number) };
    };
    const dict = await run('dict');
    const flat = await run('plain');
    // Every fourth row's f0 is NaN: missing, so skipped, in both.
    expect([dict.result.rowsRejected, flat.result.rowsRejected]).toEqual([N / 4, N / 4]);
    expect(dict.scores).toEqual(flat.scores);
    // The logistic model's scores follow f0: with indices fed instead, they would not.
    expect(new Set(dict.scores.map((x) => x.toFixed(6))).size).toBeGreaterThan(3);
    // The same statistics; the moments summed in another order (value by value, not by batch).
    for (const f of ['f0', 'f1']) {
      const { mean, std, ...rest } = dict.result.stats.features[f];
      const { mean: mean2, std: std2, ...rest2 } = flat.result.stats.features[f];
      expect(rest).toEqual(rest2);
      expect(mean).toBeCloseTo(mean2, 9);
      expect(std).toBeCloseTo(std2, 9);
    }
    expect(dict.result.stats.features.f0.mean).toBeCloseTo((-5 + 0.5 + 3) / 3, 5);
  });
});

describe('a categorical (dictionary-encoded) key is written as its values, exactly', () => {
  // Keys a job writes back: timestamps to the microsecond (Postgres) and the nanosecond (Parquet),
  // bigints beyond 2^53. Read through get(), a dictionary's timestamps came out as milliseconds.
  const n = 40;
  const us = Array.from({ length: 10 }, (_, i) => 1_700_000_000_000_123n + BigInt(i) * 1_000_001n);
  // Nanoseconds past the microsecond's half: floored by Postgres, rounded up through milliseconds.
  const ns = Array.from({ length: 10 }, (_, i) => 1_700_000_000_000_000_777n + BigInt(i) * 1_000_000_007n);
  const big = Array.from({ length: 10 }, (_, i) => 2n ** 53n + 1n + BigInt(i));
  // Row i holds value (i * 7) % 10: the dictionary's order is not the rows'.
  const dict = (type: DataType, values: bigint[]): Vector =>
    makeVector(
      makeData({
        type: new Dictionary(type, new Int32()),
        length: n,
        data: Int32Array.from({ length: n }, (_, i) => (i * 7) % 10),
        dictionary: makeVector(makeData({ type, length: values.length, data: BigInt64Array.from(values) } as never)),
      } as never),
    );
  const plain = (type: DataType, values: bigint[]): Vector =>
    makeVector(
      makeData({ type, length: n, data: BigInt64Array.from({ length: n }, (_, i) => values[(i * 7) % 10]!) } as never),
    );
  const table = (encode: typeof dict) =>
    new Table({
      kus: encode(new TimestampMicrosecond(), us),
      kns: encode(new TimestampNanosecond('UTC'), ns),
      kid: encode(new Int64(), big),
      // Every fifth row's f0 is NaN: rejected, its keys into the rejects.
      f0: makeVector(Float32Array.from({ length: n }, (_, i) => (i % 5 === 0 ? NaN : i))),
      f1: makeVector(Float32Array.from({ length: n }, (_, i) => i / n)),
      f2: makeVector(Float32Array.from({ length: n }, () => 0.5)),
    });
  const keyJob = (name: string, which: string, sink: string) =>
    job(name, 'ok.onnx', sink, 'on_null: skip\nmax_reject_rate: 0.5', {
      source: `keys/${which}`,
      key: 'kus, kns, kid',
      batchSize: 16,
    });
  beforeAll(() => {
    writeParquet(path.join(s.dir, 'keys', 'dict', 'part-0.parquet'), table(dict));
    writeParquet(path.join(s.dir, 'keys', 'plain', 'part-0.parquet'), table(plain));
  });

  it('into Parquet, and into its rejects', async () => {
    const raw = (file: string) => {
      const t = readParquetTable(file);
      return ['kus', 'kns', 'kid'].map((k) => {
        const v = t.getChild(k)!;
        expect(DataType.isDictionary(v.type)).toBe(false);
        return v.data.flatMap((d) => Array.from(d.values as BigInt64Array));
      });
    };
    const got: Record<string, bigint[][]> = {};
    for (const which of ['dict', 'plain']) {
      const file = keyJob(
        `keys_pq_${which}`,
        which,
        `parquet: { path: "out/keys_${which}/ds={{ ds }}" }\nrejects: { dir: out/keys_${which}_rejects }`,
      );
      const r = await mlscale(['score', '--job', file, '--json'], { cwd: s.dir });
      expect(errorLine(r)).toBe('');
      expect(JSON.parse(r.stdout).rowsRejected).toBe(n / 5);
      got[which] = raw(path.join(s.dir, 'out', `keys_${which}`, 'ds=2024-01-01', 'part-00000.parquet'));
      got[`${which}_rejects`] = raw(
        path.join(s.dir, 'out', `keys_${which}_rejects`, 'ds=2024-01-01', 'part-00000.parquet'),
      );
    }
    const kept = Array.from({ length: n }, (_, i) => i).filter((i) => i % 5 !== 0);
    expect(got.dict).toEqual([
      kept.map((i) => us[(i * 7) % 10]!),
      kept.map((i) => ns[(i * 7) % 10]!),
      kept.map((i) => big[(i * 7) % 10]!),
    ]);
    expect(got.dict).toEqual(got.plain);
    expect(got.dict_rejects).toEqual(got.plain_rejects);
    expect(got.dict_rejects![1]).toEqual([0, 5, 10, 15, 20, 25, 30, 35].map((i) => ns[(i * 7) % 10]!));
  });

  it.skipIf(skipPg)('into Postgres, and into its rejects table', async () => {
    const schema = await tempSchema('e2e_dictkeys');
    try {
      const rows: Record<string, unknown[]> = {};
      for (const which of ['dict', 'plain']) {
        const file = keyJob(
          `keys_pg_${which}`,
          which,
          `postgres: { url: "\${DATABASE_URL}", table: ${schema.name}.keys_${which} }\nrejects: { table: ${schema.name}.keys_${which}_rejects }`,
        );
        const r = await mlscale(['score', '--job', file, '--json'], { cwd: s.dir, env });
        expect(errorLine(r)).toBe('');
        const text = `to_char(kus, 'YYYY-MM-DD HH24:MI:SS.US') AS kus, to_char(kns AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS kns, kid::text AS kid`;
        rows[which] = await query(`SELECT ${text} FROM ${schema.name}.keys_${which} ORDER BY kid, kus`);
        rows[`${which}_rejects`] = await query(
          `SELECT ${text} FROM ${schema.name}.keys_${which}_rejects ORDER BY kid, kus`,
        );
      }
      expect(rows.dict).toEqual(rows.plain);
      expect(rows.dict_rejects).toEqual(rows.plain_rejects);
      expect(rows.dict!.length).toBe(n - n / 5);
      // The microseconds are there: us[1], 1_700_000_001_000_124 µs, is 2023-11-14 22:13:21.000124;
      // ns[1], 1_700_000_001_000_000_784 ns, floored to 22:13:21.000000.
      expect(rows.dict).toContainEqual({
        kus: '2023-11-14 22:13:21.000124',
        kns: '2023-11-14 22:13:21.000000',
        kid: String(2n ** 53n + 2n),
      });
    } finally {
      await schema.drop();
    }
  });
});

describe('every file of a glob agrees on the types the job reads', () => {
  it('refuses a feature or a key whose type differs between files (exit 2, naming both files and types)', async () => {
    const mixed = (dir: string, second: Table) => {
      writeParquet(path.join(s.dir, dir, 'a.parquet'), first);
      writeParquet(path.join(s.dir, dir, 'b.parquet'), second);
    };
    const n = 100;
    const ids = () => makeVector(BigInt64Array.from({ length: n }, (_, i) => BigInt(i)));
    // A fresh vector per column: Arrow's IPC writer corrupts columns that share a buffer.
    const floats = () => makeVector(Float32Array.from({ length: n }, (_, i) => i / n));
    const first = new Table({ id: ids(), f0: floats(), f1: floats(), f2: floats() });
    mixed(
      'strf0',
      new Table({
        id: ids(),
        f0: vectorFromArray(
          Array.from({ length: n }, (_, i) => String(i / n)),
          new Utf8(),
        ),
        f1: floats(),
        f2: floats(),
      }),
    );
    mixed(
      'intkey',
      new Table({
        id: makeVector(Int32Array.from({ length: n }, (_, i) => i + n)),
        f0: floats(),
        f1: floats(),
        f2: floats(),
      }),
    );
    // A string key stored plain in one file and dictionary-encoded in another is one type: it scores.
    const names = () => Array.from({ length: n }, (_, i) => `k${i}`);
    writeParquet(
      path.join(s.dir, 'dictkey', 'a.parquet'),
      new Table({ id: vectorFromArray(names(), new Utf8()), f0: floats(), f1: floats(), f2: floats() }),
    );
    writeParquet(
      path.join(s.dir, 'dictkey', 'b.parquet'),
      new Table({
        id: vectorFromArray(names(), new Dictionary(new Utf8(), new Int32())),
        f0: floats(),
        f1: floats(),
        f2: floats(),
      }),
    );
    const dictJob = job('dictkey', 'ok.onnx', 'parquet: { path: "out/dictkey" }');
    writeFileSync(
      dictJob,
      readFileSync(dictJob, 'utf8').replace('parquet: { path: data }', 'parquet: { path: dictkey }'),
    );
    const dict = await mlscale(['score', '--job', dictJob, '--json'], { cwd: s.dir });
    expect(errorLine(dict)).toBe('');
    expect(JSON.parse(dict.stdout).rowsWritten).toBe(2 * n);
    const cases: [string, string, string, string][] = [
      ['strf0', 'f0', 'Float32', 'Utf8'],
      ['intkey', 'id', 'Int64', 'Int32'],
    ];
    for (const [dir, column, a, b] of cases) {
      const file = job(dir, 'ok.onnx', `parquet: { path: "out/${dir}" }`);
      writeFileSync(file, readFileSync(file, 'utf8').replace('parquet: { path: data }', `parquet: { path: ${dir} }`));
      for (const command of ['validate', 'score']) {
        const r = await mlscale([command, '--job', file], { cwd: s.dir });
        expect(r.code).toBe(2);
        expect(errorLine(r)).toBe(
          `error: source: column "${column}" is ${a} in ${path.join(s.dir, dir, 'a.parquet')} but ${b} in ${path.join(s.dir, dir, 'b.parquet')}; all files must agree on the type of every column the job reads (rewrite one of them with the other's type).`,
        );
      }
      expect(existsSync(path.join(s.dir, 'out', dir))).toBe(false);
    }
  });
});

describe('a column name PostgreSQL cannot store', () => {
  it('a NUL in a column name is one clear sentence (exit 2), not a server error', async () => {
    const n = 10;
    writeParquet(
      path.join(s.dir, 'nul', 'part-0.parquet'),
      new Table({
        id: makeVector(BigInt64Array.from({ length: n }, (_, i) => BigInt(i))),
        'f\u0000x': makeVector(Float32Array.from({ length: n }, () => 0.5)),
        f1: makeVector(Float32Array.from({ length: n }, () => 0.5)),
        f2: makeVector(Float32Array.from({ length: n }, () => 0.5)),
      }),
    );
    const file = s.file(
      'nul.yaml',
      readFileSync(job('nul', 'ok.onnx', 'parquet: { path: "out/nul" }'), 'utf8')
        .replace('features: [f0, f1, f2]', 'features: ["f\\0x", f1, f2]')
        .replace('parquet: { path: data }', 'parquet: { path: nul }'),
    );
    for (const command of ['validate', 'score']) {
      const r = await mlscale([command, '--job', file], { cwd: s.dir });
      expect(r.code).toBe(2);
      expect(errorLine(r)).toBe(
        'error: source: column "f\\u0000x" has a NUL character in its name, which PostgreSQL cannot store in a column name or the ledger; rename the column in the source (or alias it in the query).',
      );
    }
  });
});

describe.skipIf(skipPg)('an existing table must take what the run writes', () => {
  let schema: { name: string; drop(): Promise<void> };
  beforeAll(async () => {
    schema = await tempSchema('e2e_wrong');
  });
  afterAll(async () => schema.drop());

  it('refuses columns of another type (exit 2, naming column and both types) and writes nothing', async () => {
    const cases: [string, string, string][] = [
      ['score', 'bigint', 'double precision'],
      ['label', 'double precision', 'bigint'],
      ['id', 'timestamp with time zone', 'bigint'],
      ['scored_at', 'timestamp without time zone', 'timestamp with time zone'],
    ];
    for (const [column, theirs, ours] of cases) {
      const table = `t_${column}`;
      const cols: Record<string, string> = {
        id: 'bigint',
        score: 'double precision',
        label: 'bigint',
        model_name: 'text',
        model_version: 'text',
        partition: 'text',
        run_id: 'text',
        scored_at: 'timestamptz',
        [column]: theirs,
      };
      await query(
        `CREATE TABLE ${schema.name}.${table} (${Object.entries(cols)
          .map(([c, t]) => `${c} ${t}`)
          .join(', ')})`,
      );
      const file = job(table, 'ok.onnx', `postgres: { url: "\${DATABASE_URL}", table: ${schema.name}.${table} }`);
      for (const command of ['validate', 'score']) {
        const r = await mlscale([command, '--job', file], { cwd: s.dir, env });
        expect(r.code, `${command} ${column}`).toBe(2);
        expect(errorLine(r)).toBe(
          `error: sink: column "${column}" of table ${schema.name}.${table} is ${theirs} but this run writes ${ours}; change the column's type (ALTER TABLE ... ALTER COLUMN ... TYPE ${ours === 'timestamp with time zone' ? 'timestamptz' : ours}) or write to a new table.`,
        );
      }
      expect(await query(`SELECT 1 FROM ${schema.name}.${table}`)).toEqual([]);
    }
    // varchar takes what text sends, byte for byte: allowed.
    await query(
      `CREATE TABLE ${schema.name}.t_varchar (id bigint, score double precision, label bigint, model_name varchar(200), model_version text, partition text, run_id text, scored_at timestamptz)`,
    );
    const ok = await mlscale(
      [
        'score',
        '--job',
        job('t_varchar', 'ok.onnx', `postgres: { url: "\${DATABASE_URL}", table: ${schema.name}.t_varchar }`),
      ],
      { cwd: s.dir, env },
    );
    expect(errorLine(ok)).toBe('');
    expect(await query(`SELECT count(*)::int AS n FROM ${schema.name}.t_varchar`)).toEqual([{ n: N }]);
  });

  it('refuses sink and rejects tables that are mlscale’s own, or each other (exit 2)', async () => {
    const cases: [string, string, string][] = [
      [
        `${schema.name}.mlscale_runs`,
        '',
        "sink.postgres.table: mlscale_runs is mlscale's run ledger; name another table.",
      ],
      [
        `${schema.name}.x_mlscale_stage`,
        '',
        "sink.postgres.table: x_mlscale_stage is named like mlscale's staging tables; name another table.",
      ],
      [
        `${schema.name}.preds`,
        `rejects: { table: ${schema.name}.mlscale_runs }`,
        "rejects.table: mlscale_runs is mlscale's run ledger; name another table for the rejects.",
      ],
      [
        `${schema.name}.preds`,
        `rejects: { table: mlscale_checkpoints }`,
        "rejects.table: mlscale_checkpoints holds mlscale's checkpoints; name another table for the rejects.",
      ],
      [
        `${schema.name}.preds`,
        `rejects: { table: ${schema.name}.preds }`,
        "rejects.table: preds is the sink's own table; name another table for the rejects.",
      ],
      [
        `${schema.name}.preds`,
        `rejects: { table: preds_latest }`,
        'rejects.table: preds_latest is named like the views mlscale keeps over preds; name another table for the rejects.',
      ],
    ];
    for (const [table, extra, message] of cases) {
      const file = job('own', 'ok.onnx', `postgres: { url: "\${DATABASE_URL}", table: ${table} }`, extra);
      const r = await mlscale(['score', '--job', file], { cwd: s.dir, env });
      expect(r.code).toBe(2);
      expect(errorLine(r)).toBe(`error: own.yaml: ${message}`);
    }
    // No run of job own was recorded (the ledger may not even exist yet).
    const [ledger] = await query<{ t: string | null }>(`SELECT to_regclass('${schema.name}.mlscale_runs')::text AS t`);
    const recorded = ledger!.t ? await query(`SELECT 1 FROM ${schema.name}.mlscale_runs WHERE job = 'own'`) : [];
    expect(recorded).toEqual([]);
    const long = 't'.repeat(50);
    const tooLong = await mlscale(
      [
        'validate',
        '--job',
        job('own', 'ok.onnx', `postgres: { url: "\${DATABASE_URL}", table: ${schema.name}.${long} }`),
      ],
      { cwd: s.dir, env },
    );
    expect(tooLong.code).toBe(2);
    expect(errorLine(tooLong)).toBe(
      `error: own.yaml: sink.postgres.table: "${long}" is 50 bytes; a sink table's name may have at most 49, so that the tables and views mlscale names after it (…_p<hash> for a partition, …_latest) fit PostgreSQL's 63-byte names; choose a shorter name.`,
    );
  });

  it('the _latest view shows the newest partition by value: a backfill of an older day does not take its place', async () => {
    const file = job('latest', 'ok.onnx', `postgres: { url: "\${DATABASE_URL}", table: ${schema.name}.latest }`);
    for (const ds of ['2024-01-02', '2023-12-31'])
      expect((await mlscale(['score', '--job', file, '--param', `ds=${ds}`], { cwd: s.dir, env })).code).toBe(0);
    expect(await query(`SELECT DISTINCT partition FROM ${schema.name}.latest_latest`)).toEqual([
      { partition: '2024-01-02' },
    ]);
  });

  it('a --run-id already in the ledger is refused (exit 2) and leaves the earlier run as it was', async () => {
    const file = job('reuse', 'ok.onnx', `postgres: { url: "\${DATABASE_URL}", table: ${schema.name}.reuse }`);
    expect((await mlscale(['score', '--job', file, '--run-id', 'MYRUN'], { cwd: s.dir, env })).code).toBe(0);
    const again = await mlscale(['score', '--job', file, '--run-id', 'MYRUN', '--param', 'ds=2024-01-02'], {
      cwd: s.dir,
      env,
    });
    expect(again.code).toBe(2);
    expect(errorLine(again)).toBe(
      `error: --run-id MYRUN: that run id is already in the ledger ${schema.name}.mlscale_runs; give this run a new one (or leave --run-id out).`,
    );
    expect(await query(`SELECT status FROM ${schema.name}.mlscale_runs WHERE run_id = 'MYRUN'`)).toEqual([
      { status: 'succeeded' },
    ]);
    expect((await mlscale(['score', '--job', file], { cwd: s.dir, env })).code).toBe(0);
    expect(await query(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM ${schema.name}.reuse`)).toEqual([
      { n: N, d: N },
    ]);
  });

  it('names the GRANT a role lacks (exit 2) instead of failing half way', async () => {
    const role = `mlscale_ro_${randomBytes(3).toString('hex')}`;
    await query(`CREATE ROLE ${role} LOGIN`);
    const url = new URL(databaseUrl);
    url.username = role;
    const asRole = { DATABASE_URL: url.toString() };
    try {
      const file = job('grants', 'ok.onnx', `postgres: { url: "\${DATABASE_URL}", table: ${schema.name}.granted }`);
      const run = () => mlscale(['score', '--job', file], { cwd: s.dir, env: asRole });
      const expectGrant = async (grant: string, why = '') => {
        const r = await run();
        expect(r.code).toBe(2);
        expect(errorLine(r)).toBe(
          `error: sink: role ${role} lacks a privilege the run needs on ${schema.name}.granted${why}; have the owner run: ${grant} TO "${role}";`,
        );
      };
      const ownerOnly = " (only the table's owner, or a member of its role, may attach and drop its partitions)";
      await expectGrant(`GRANT USAGE ON SCHEMA "${schema.name}"`);
      await query(`GRANT USAGE ON SCHEMA ${schema.name} TO ${role}`);
      await expectGrant(`GRANT CREATE ON SCHEMA "${schema.name}"`, ' (each run loads a table of its own)');
      // The owner made the table and the ledger. Each run loads a table of its own and attaches it,
      // which only the owner (or a member of its role) may do: a writer role is made a member.
      expect((await mlscale(['score', '--job', file], { cwd: s.dir, env })).code).toBe(0);
      await query(`GRANT CREATE ON SCHEMA ${schema.name} TO ${role}`);
      const superOwned = await run();
      expect(superOwned.code).toBe(2);
      expect(errorLine(superOwned)).toBe(
        `error: sink: role ${role} may not write ${schema.name}.granted: only its owner, or a member of the owner's role, may attach and drop its partitions, and its owner postgres is a superuser; give the table to a role of its own (ALTER TABLE "${schema.name}"."granted" OWNER TO mlscale_owner, with the tables under it), then GRANT mlscale_owner TO "${role}";`,
      );
      const owner = `mlscale_owner_${randomBytes(3).toString('hex')}`;
      await query(`CREATE ROLE ${owner}`);
      await query(`GRANT CREATE, USAGE ON SCHEMA ${schema.name} TO ${owner}`);
      await query(`ALTER TABLE ${schema.name}.granted OWNER TO ${owner}`);
      for (const t of await query<{ t: string }>(
        `SELECT relid::text AS t FROM pg_partition_tree('${schema.name}.granted') WHERE level > 0`,
      ))
        await query(`ALTER TABLE ${t.t} OWNER TO ${owner}`);
      await expectGrant(`GRANT ${owner}`, ownerOnly);
      await query(`GRANT ${owner} TO ${role}`);
      await expectGrant(`GRANT SELECT, INSERT, UPDATE ON "${schema.name}"."mlscale_runs"`);
      // With the grants it names, a role that owns nothing itself writes.
      await query(`GRANT SELECT, INSERT, UPDATE ON ${schema.name}.mlscale_runs TO ${role}`);
      const writer = await run();
      expect(errorLine(writer)).toBe('');
      expect(await query(`SELECT count(*)::int AS n FROM ${schema.name}.granted`)).toEqual([{ n: N }]);
      // What the writer created belongs to the table's owner, so any other member can replace it later.
      expect(
        await query(
          `SELECT DISTINCT c.relowner::regrole::text AS owner FROM pg_partition_tree('${schema.name}.granted') t JOIN pg_class c ON c.oid = t.relid`,
        ),
      ).toEqual([{ owner: owner }]);
    } finally {
      await query(`DROP TABLE IF EXISTS ${schema.name}.granted CASCADE`);
      await query(`DROP OWNED BY ${role}`);
      await query(`DROP ROLE ${role}`);
      for (const r of await query<{ r: string }>(
        `SELECT rolname AS r FROM pg_roles WHERE rolname LIKE 'mlscale_owner_%'`,
      )) {
        await query(`DROP OWNED BY ${r.r}`);
        await query(`DROP ROLE ${r.r}`);
      }
    }
  });
});

describe('an empty result or a --limit trial never silently replaces a full partition', () => {
  it('Parquet: exit 3 for an empty result, exit 2 for --limit, unless allow_empty / --allow-partial', async () => {
    const file = job('guard', 'ok.onnx', 'parquet: { path: "out/guard/ds={{ ds }}" }', 'on_null: skip');
    const dir = path.join(s.dir, 'out', 'guard', 'ds=2024-01-01');
    const runId = () => JSON.parse(readFileSync(path.join(dir, '_mlscale_run.json'), 'utf8')).run_id as string;
    expect((await mlscale(['score', '--job', file, '--run-id', 'full'], { cwd: s.dir })).code).toBe(0);

    const limited = await mlscale(['score', '--job', file, '--limit', '10'], { cwd: s.dir });
    expect(limited.code).toBe(2);
    expect(errorLine(limited)).toBe(
      `error: --limit 10: partition 2024-01-01 holds ${N} rows (run full), which a trial of at most 10 rows would replace; nothing was scored. Use --dry-run to try the job, or --allow-partial to replace the partition.`,
    );
    expect(runId()).toBe('full');
    expect((await mlscale(['score', '--job', file, '--limit', '10', '--dry-run'], { cwd: s.dir })).code).toBe(0);
    expect(runId()).toBe('full');

    // Every row rejected: an empty result.
    // Every row has a null feature, skipped: the run writes nothing.
    const empty = s.file('guard-empty.yaml', readFileSync(file, 'utf8') + '\nmax_reject_rate: 1\n');
    writeParquet(
      path.join(s.dir, 'nulls', 'part-0.parquet'),
      new Table({
        id: makeVector(BigInt64Array.from({ length: 10 }, (_, i) => BigInt(i))),
        f0: vectorFromArray(new Array(10).fill(null), new Float32()),
        f1: vectorFromArray(new Array(10).fill(0.5), new Float32()),
        f2: vectorFromArray(new Array(10).fill(0.5), new Float32()),
      }),
    );
    writeFileSync(empty, readFileSync(empty, 'utf8').replace('parquet: { path: data }', 'parquet: { path: nulls }'));
    const r = await mlscale(['score', '--job', empty, '--run-id', 'empty'], { cwd: s.dir });
    expect(r.code, errorLine(r)).toBe(3);
    expect(errorLine(r)).toBe(
      `error: empty result: this run wrote no rows, and partition 2024-01-01 holds ${N} rows (run full); nothing was published. Check the source, or set allow_empty: true to publish an empty partition.`,
    );
    expect(runId()).toBe('full');

    const partial = await mlscale(['score', '--job', file, '--limit', '10', '--allow-partial', '--run-id', 'ten'], {
      cwd: s.dir,
    });
    expect(errorLine(partial)).toBe('');
    expect(runId()).toBe('ten');
    // A shard replaces the unsharded publish it retires: an empty shard, or a --limit trial of one, may not.
    const one = s.file(
      'guard-one.yaml',
      readFileSync(file, 'utf8').replace('parquet: { path: data }', 'parquet: { path: onegroup }'),
    );
    writeParquet(
      path.join(s.dir, 'onegroup', 'part-0.parquet'),
      new Table({
        id: makeVector(BigInt64Array.from({ length: 10 }, (_, i) => BigInt(i))),
        f0: makeVector(Float32Array.from({ length: 10 }, () => 0.5)),
        f1: makeVector(Float32Array.from({ length: 10 }, () => 0.5)),
        f2: makeVector(Float32Array.from({ length: 10 }, () => 0.5)),
      }),
    );
    expect((await mlscale(['score', '--job', one, '--run-id', 'whole'], { cwd: s.dir })).code).toBe(0);
    const emptyShard = await mlscale(['score', '--job', one, '--shard', '1/2'], { cwd: s.dir });
    expect(emptyShard.code).toBe(3);
    expect(errorLine(emptyShard)).toMatch(
      /^error: empty result: this run wrote no rows, and partition 2024-01-01 holds 10 rows \(run whole\); nothing was published\./,
    );
    const limitedShard = await mlscale(['score', '--job', one, '--shard', '0/2', '--limit', '2'], { cwd: s.dir });
    expect(limitedShard.code).toBe(2);
    expect(runId()).toBe('whole');
    writeFileSync(empty, readFileSync(empty, 'utf8') + 'allow_empty: true\n');
    const allowed = await mlscale(['score', '--job', empty, '--run-id', 'empty-ok'], { cwd: s.dir });
    expect(errorLine(allowed)).toBe('');
    expect(runId()).toBe('empty-ok');
  });
});
