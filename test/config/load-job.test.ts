import { describe, expect, it } from 'vitest';
import { parseJob } from '../../src/config/load-job.js';
import { parseParamFlags, todayIn } from '../../src/config/template.js';
import { UsageError } from '../../src/errors.js';

const base = `
name: churn_daily
params:
  region: eu
model:
  path: ../models/churn.onnx
  features: [a, b]
source:
  parquet: { path: "../data/ds={{ ds }}/{{ region }}/*.parquet" }
key: [id]
sink:
  postgres: { url: "\${DB_URL}", table: analytics.churn }
`;
const env = { DB_URL: 'postgres://u:secret@localhost/db' };
const file = '/jobs/daily.yaml';

function fails(text: string, overrides = {}, e: NodeJS.ProcessEnv = env): string {
  try {
    parseJob(text, file, overrides, e);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('expected parseJob to fail');
}

describe('parseJob', () => {
  it('resolves paths, params, env and defaults into a frozen job', () => {
    const job = parseJob(base, file, { params: { ds: '2024-02-03' } }, env);
    expect(job.models.map((m) => [m.path, m.name])).toEqual([['/models/churn.onnx', 'churn']]);
    expect(job.combine).toEqual({ mode: 'single' });
    expect(job.source).toEqual({ kind: 'parquet', path: '/data/ds=2024-02-03/eu/*.parquet' });
    expect(job.sink).toEqual({
      kind: 'postgres',
      url: 'postgres://u:secret@localhost/db',
      schema: 'analytics',
      table: 'churn',
    });
    expect(job.partition).toBe('2024-02-03');
    expect(job.batchSize).toBe(8192);
    expect(job.onNull).toEqual({ mode: 'error' });
    expect(Object.isFrozen(job)).toBe(true);
    expect(Object.isFrozen(job.models[0]!.features)).toBe(true);
  });

  it('defaults ds to today in the job time zone and lets --param override params', () => {
    const job = parseJob(base, file, { params: { region: 'us' } }, env);
    expect(job.ds).toBe(todayIn('UTC'));
    expect(job.source).toMatchObject({ kind: 'parquet', path: expect.stringContaining('/us/') });
  });

  it("gives today's date as the time zone's calendar has it, UTC included (which skips ICU)", () => {
    for (const iso of ['2024-02-29T23:59:59.999Z', '2024-03-01T00:00:00.000Z', '2023-12-31T12:00:00Z']) {
      const at = new Date(iso);
      const viaIcu = new Intl.DateTimeFormat('en-CA', { timeZone: 'UTC', dateStyle: 'short' }).format(at);
      expect(todayIn('UTC', at)).toBe(viaIcu);
    }
    // 23:30 UTC is already the next day in Tokyo and still the same day in New York.
    const late = new Date('2024-06-30T23:30:00Z');
    expect(todayIn('Asia/Tokyo', late)).toBe('2024-07-01');
    expect(todayIn('America/New_York', late)).toBe('2024-06-30');
  });

  it('reports a YAML syntax error with line and column', () => {
    expect(fails('name: x\nmodel: [a\n')).toMatch(
      /^daily\.yaml:\d+:\d+: YAML syntax error: .+; fix the YAML at that line\.$/,
    );
  });

  it('names an unknown key with its position and a suggestion', () => {
    expect(fails(base.replace('key: [id]', 'keys: [id]'))).toBe(
      'daily.yaml:10:1: keys: unknown key "keys" (did you mean "key"?).',
    );
    expect(fails(base.replace('  features: [a, b]', '  feature: [a, b]'))).toBe(
      'daily.yaml:7:3: model.feature: unknown key "feature" (did you mean "features"?).',
    );
  });

  it('reports wrong types with their dot path', () => {
    expect(fails(`${base}batch_size: lots\n`)).toBe(
      'daily.yaml:13:1: batch_size: expected a whole number, got the string "lots".',
    );
    expect(fails(`${base}on_null: skipp\n`)).toBe(
      'daily.yaml:13:1: on_null: expected one of "error", "skip" or a mapping, got the string "skipp".',
    );
    expect(fails(base.replace('name: churn_daily', 'name: Churn-Daily'))).toBe(
      'daily.yaml:2:1: name: "Churn-Daily" is not valid: use lowercase letters, digits and underscores.',
    );
  });

  it('requires exactly one source and one sink', () => {
    expect(
      fails(base.replace('  parquet: { path: "../data/ds={{ ds }}/{{ region }}/*.parquet" }\n', '  {}\n')),
    ).toContain('source: needs exactly one of parquet, postgres.');
  });

  it('names a missing environment variable', () => {
    expect(fails(base, {}, {})).toBe(
      'daily.yaml: sink.postgres.url: environment variable DB_URL is not set; export it or write ${DB_URL:-default}.',
    );
  });

  it('names an unknown template parameter and lists the known ones', () => {
    expect(fails(base.replace('{{ region }}', '{{ regoin }}'))).toBe(
      'daily.yaml: source.parquet.path: unknown parameter {{ regoin }} (known: ds, region); add it under params: or pass --param regoin=VALUE.',
    );
  });

  it('refuses a key named like a column the sinks write on every row (it would be overwritten)', () => {
    for (const name of ['partition', 'run_id', 'scored_at', 'model_name', 'model_version'])
      expect(fails(base.replace('key: [id]', `key: [id, ${name}]`))).toBe(
        `daily.yaml: key: column "${name}" has the name of a column mlscale writes on every row (model_name, model_version, partition, run_id, scored_at); rename it in the source or leave it out of key.`,
      );
  });

  it('rejects a ds that is not a date', () => {
    expect(fails(base, { params: { ds: 'yesterday' } })).toBe(
      'parameter ds: "yesterday" is not a date; use YYYY-MM-DD, e.g. --param ds=2024-01-31.',
    );
  });

  it('parses --param flags and rejects malformed ones', () => {
    expect(parseParamFlags(['ds=2024-01-01', 'q=a=b'])).toEqual({ ds: '2024-01-01', q: 'a=b' });
    expect(() => parseParamFlags(['=x'])).toThrow(
      '--param "=x": expected NAME=VALUE with a name of letters, digits and underscores.',
    );
  });
});
