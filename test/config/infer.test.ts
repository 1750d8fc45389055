import { describe, expect, expectTypeOf, it } from 'vitest';
import { jobSchema } from '../../src/config/job-schema.js';
import { check, validate, type Infer, type SchemaNode } from '../../src/config/schema.js';

// The type assertions below are checked by `tsc -p tsconfig.test.json` (part of `npm test`); at run time
// expectTypeOf is a no-op, so each block also checks that validate agrees with the type at run time.

const small = {
  kind: 'object',
  description: 'A small schema using every kind.',
  required: ['id', 'mode'],
  properties: {
    id: { kind: 'integer', description: 'Id.', minimum: 0 },
    mode: { kind: 'string', description: 'Mode.', enum: ['fast', 'slow'] },
    label: { kind: 'string', description: 'Free text.' },
    ratio: { kind: 'number', description: 'Ratio.' },
    on: { kind: 'boolean', description: 'Switch.' },
    tags: { kind: 'array', description: 'Tags.', items: { kind: 'string', description: 'Tag.' } },
    params: { kind: 'map', description: 'Params.', values: { kind: 'scalar', description: 'Value.' } },
    fallback: {
      kind: 'union',
      description: 'A literal or a mapping.',
      options: [
        { kind: 'string', description: 'none.', enum: ['none'] },
        {
          kind: 'object',
          description: 'Fill.',
          required: ['fill'],
          properties: { fill: { kind: 'scalar', description: 'Fill value.' } },
        },
      ],
    },
  },
} as const satisfies SchemaNode;

type Small = Infer<typeof small>;

describe('Infer', () => {
  it('derives required, optional, enum, array, map and union members from a declaration', () => {
    expectTypeOf<Small>().toEqualTypeOf<{
      id: number;
      mode: 'fast' | 'slow';
      label?: string;
      ratio?: number;
      on?: boolean;
      tags?: readonly string[];
      params?: Record<string, string | number | boolean>;
      fallback?: 'none' | { fill: string | number | boolean };
    }>();

    // @ts-expect-error -- "mode" is required
    const missingRequired: Small = { id: 1 };
    // @ts-expect-error -- "medium" is not in the enum
    const outsideEnum: Small = { id: 1, mode: 'medium' };
    expect(validate(small, missingRequired).map((i) => i.message)).toEqual([
      '(top level): missing required key "mode"',
    ]);
    expect(validate(small, outsideEnum).map((i) => i.message)).toEqual(['mode: "medium" is not one of "fast", "slow"']);

    const full: Small = {
      id: 1,
      mode: 'slow',
      label: 'x',
      ratio: 0.5,
      on: true,
      tags: ['a'],
      params: { k: 1 },
      fallback: { fill: 0 },
    };
    expect(validate(small, full)).toEqual([]);
    expect(validate(small, { id: 2, mode: 'fast' } satisfies Small)).toEqual([]);
  });

  it('gives unknown for a node typed only as SchemaNode (nothing to derive from)', () => {
    expectTypeOf<Infer<SchemaNode>>().toBeUnknown();
  });

  it('derives the raw job type from jobSchema', () => {
    type RawJob = Infer<typeof jobSchema>;
    expectTypeOf<RawJob['name']>().toEqualTypeOf<string>();
    expectTypeOf<RawJob['combine']>().toEqualTypeOf<'mean' | 'weighted' | 'route' | undefined>();
    expectTypeOf<RawJob['on_null']>().toEqualTypeOf<
      'error' | 'skip' | { fill: string | number | boolean } | undefined
    >();
    expectTypeOf<NonNullable<RawJob['models']>[number]['weight']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<NonNullable<RawJob['model']>>().not.toHaveProperty('weight');
    expectTypeOf<NonNullable<RawJob['sink']['parquet']>['compression']>().toEqualTypeOf<
      'zstd' | 'snappy' | 'gzip' | 'lz4' | 'uncompressed' | undefined
    >();
    // Every key the schema marks required is a mandatory key of the derived type.
    const required: readonly (keyof RawJob)[] = jobSchema.required;
    expectTypeOf<Pick<RawJob, (typeof jobSchema.required)[number]>>().toEqualTypeOf<
      Required<Pick<RawJob, 'name' | 'source' | 'sink'>>
    >();
    expect(required).toEqual(['name', 'source', 'sink']);
  });
});

describe('check', () => {
  it('returns the value itself, typed, when it is valid', () => {
    const value: unknown = { id: 3, mode: 'fast', tags: ['a', 'b'] };
    const result = check(small, value);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expectTypeOf(result.value).toEqualTypeOf<Small>();
    expect(result.value).toBe(value);
    expect(result.value.tags).toEqual(['a', 'b']);
  });

  it('returns the same issues as validate when it is not', () => {
    const value = { id: -1, mode: 'fats', extra: true };
    const result = check(small, value);
    expect(result).toEqual({ ok: false, issues: validate(small, value) });
    expect(result.ok ? [] : result.issues.map((i) => i.message)).toEqual([
      'id: must be at least 0, got -1',
      'mode: "fats" is not one of "fast", "slow" (did you mean "fast"?)',
      'extra: unknown key "extra" (known keys: id, mode, label, ratio, on, tags, params, fallback)',
    ]);
  });
});
