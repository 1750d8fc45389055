import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { jobSchema } from '../../src/config/job-schema.js';
import { suggest, toJsonSchema, validate, type SchemaNode } from '../../src/config/schema.js';
import { repoRoot } from '../support/paths.js';

describe('job schema', () => {
  it('ships a JSON Schema generated from the same declaration (run scripts/gen-schema.mjs after changing it)', () => {
    const shipped = JSON.parse(readFileSync(path.join(repoRoot, 'jobs', 'job.schema.json'), 'utf8'));
    const { $schema: _s, $id: _i, title: _t, ...rest } = shipped;
    expect(rest).toEqual(JSON.parse(JSON.stringify(toJsonSchema(jobSchema))));
  });

  it('suggests close names only', () => {
    expect(suggest('paralelism', ['parallelism', 'partition'])).toBe('parallelism');
    expect(suggest('zzz', ['parallelism', 'partition'])).toBeUndefined();
  });

  it('reports every issue, not just the first', () => {
    const issues = validate(jobSchema, {
      name: 1,
      model: {},
      source: { parquet: { path: 'x' } },
      sink: { parquet: { path: 'y' } },
      batch_size: 0,
    });
    expect(issues.map((i) => i.message)).toEqual([
      'name: expected a string, got number 1',
      'model: missing required key "path"',
      'batch_size: must be at least 1, got 0',
    ]);
  });

  describe('rules between keys', () => {
    const node = {
      kind: 'object',
      description: 'x',
      properties: {
        every: { kind: 'string', description: 'x' },
        catchup: { kind: 'integer', description: 'x' },
        mode: { kind: 'string', description: 'x' },
        by: { kind: 'string', description: 'x' },
        out: {
          kind: 'object',
          description: 'x',
          properties: { table: { kind: 'string', description: 'x' }, dir: { kind: 'string', description: 'x' } },
        },
        list: { kind: 'array', description: 'x', items: { kind: 'string', description: 'x' }, uniqueItems: true },
      },
      rules: [
        { if: { has: ['catchup'] }, then: { has: ['every'] }, at: ['catchup'], message: 'needs every' },
        { if: { is: ['mode'], value: 'route' }, then: { has: ['by'] }, at: ['mode'], message: 'route needs by' },
        { if: { atLeast: ['list'], items: 2 }, then: { has: ['mode'] }, at: ['list'], message: 'two need a mode' },
        { if: { has: ['out', 'table'] }, then: { lacks: ['out', 'dir'] }, at: ['out', 'dir'], message: 'not both' },
      ],
    } as const satisfies SchemaNode;

    it.each([
      [{ catchup: 1 }, ['catchup: needs every']],
      [{ catchup: 1, every: 'x' }, []],
      [{ mode: 'route' }, ['mode: route needs by']],
      [{ mode: 'mean' }, []],
      [{ list: ['a', 'b'] }, ['list: two need a mode']],
      [{ list: ['a'] }, []],
      [{ out: { table: 't', dir: 'd' } }, ['out.dir: not both']],
      [{ out: { dir: 'd' } }, []],
      [{ mode: 'm', list: ['a', 'b', 'a'] }, ['list[2]: "a" is listed twice; list each once']],
    ])('%j: %j', (value, messages) => {
      expect(validate(node, value).map((i) => i.message)).toEqual(messages);
    });

    it('become dependentRequired where one key needs another, if/then otherwise', () => {
      const json = toJsonSchema(node);
      expect(json.dependentRequired).toEqual({ catchup: ['every'] });
      expect(json.allOf).toEqual([
        {
          $comment: 'route needs by',
          if: { required: ['mode'], properties: { mode: { const: 'route' } } },
          then: { required: ['by'] },
        },
        {
          $comment: 'two need a mode',
          if: { required: ['list'], properties: { list: { type: 'array', minItems: 2 } } },
          then: { required: ['mode'] },
        },
        {
          $comment: 'not both',
          if: { required: ['out'], properties: { out: { type: 'object', required: ['table'] } } },
          then: { not: { required: ['out'], properties: { out: { type: 'object', required: ['dir'] } } } },
        },
      ]);
      expect((json.properties as Record<string, unknown>).list).toMatchObject({ uniqueItems: true });
    });
  });

  it('names a long enum instead of listing it, and runs a refinement after the pattern', () => {
    const zone = { kind: 'string', description: 'x', enum: ['UTC', 'Europe/Paris'], enumName: 'a time zone' } as const;
    expect(validate(zone, 'Europe/Pari').map((i) => i.message)).toEqual([
      '(top level): "Europe/Pari" is not a time zone (did you mean "Europe/Paris"?)',
    ]);
    const even = {
      kind: 'string',
      description: 'x',
      pattern: '^[0-9]+$',
      patternHint: 'write an even number',
      refine: (v: string) => (Number(v) % 2 === 0 ? undefined : `${v} is odd`),
    } as const satisfies SchemaNode;
    expect(validate(even, 'x').map((i) => i.message)).toEqual(['(top level): "x" is not valid: write an even number']);
    expect(validate(even, '3').map((i) => i.message)).toEqual([
      '(top level): "3" is not valid: 3 is odd; write an even number',
    ]);
    expect(validate(even, '4')).toEqual([]);
    expect(toJsonSchema(even)).toEqual({ description: 'x', type: 'string', pattern: '^[0-9]+$' });
  });
});
