/**
 * A tiny schema language: one declaration per key gives the runtime check, the error
 * messages (prefixed with the key's dot path) and the JSON Schema that editors use.
 */
export type SchemaNode =
  | {
      kind: 'string';
      description: string;
      enum?: readonly string[];
      /** What the enum is, for messages, where listing every value would drown the point (time zones). */
      enumName?: string;
      pattern?: string;
      patternHint?: string;
      /**
       * A check JSON Schema cannot say, run after the pattern (which approximates it for editors): why the
       * value is wrong, or undefined. Reported as the pattern's failure is, so patternHint says what to write.
       */
      refine?: (value: string) => string | undefined;
      default?: string;
    }
  | { kind: 'integer'; description: string; minimum?: number; maximum?: number; default?: number }
  | { kind: 'number'; description: string; minimum?: number; maximum?: number; default?: number }
  | { kind: 'boolean'; description: string; default?: boolean }
  | { kind: 'scalar'; description: string }
  | { kind: 'array'; description: string; items: SchemaNode; minItems?: number; uniqueItems?: boolean }
  | {
      kind: 'object';
      description: string;
      properties: Record<string, SchemaNode>;
      required?: readonly string[];
      /** exactly one of these keys must be present (a tagged choice such as source.parquet | source.postgres) */
      oneKeyOf?: readonly string[];
      /** Rules between this mapping's keys, checked after each key's own. */
      rules?: readonly Rule[];
    }
  | { kind: 'map'; description: string; values: SchemaNode; keyPattern?: string }
  | { kind: 'union'; description: string; options: readonly SchemaNode[] };

/** A condition on the keys below a mapping, each named by its path from the mapping. */
export type Condition =
  | { readonly has: readonly string[] }
  | { readonly lacks: readonly string[] }
  | { readonly is: readonly string[]; readonly value: string }
  | { readonly atLeast: readonly string[]; readonly items: number };

/**
 * A rule between a mapping's keys: where `if` holds, `then` must hold too, or `message` is reported
 * at `at`. JSON Schema says it as if/then, or as dependentRequired where one key needs another.
 */
export interface Rule {
  readonly if: Condition;
  readonly then: Condition;
  readonly at: readonly string[];
  readonly message: string;
}

/**
 * The value a node accepts, as a type, so code that reads a checked value uses the declaration itself
 * instead of a hand-copied interface. Declare nodes with `as const satisfies SchemaNode` to keep the literal
 * types this needs (enum members, `required` names); a node typed as plain `SchemaNode` infers `unknown`.
 * Object keys listed in `required` are mandatory, every other key is optional; `oneKeyOf` is not modelled.
 */
export type Infer<N> = SchemaNode extends N ? unknown : InferNode<N>;

type InferNode<N> = N extends { kind: 'string'; enum: readonly (infer E extends string)[] }
  ? E
  : N extends { kind: 'string' }
    ? string
    : N extends { kind: 'integer' | 'number' }
      ? number
      : N extends { kind: 'boolean' }
        ? boolean
        : N extends { kind: 'scalar' }
          ? string | number | boolean
          : N extends { kind: 'array'; items: infer I }
            ? readonly Infer<I>[]
            : N extends { kind: 'map'; values: infer V }
              ? Record<string, Infer<V>>
              : N extends { kind: 'object'; properties: infer P }
                ? InferObject<P, N extends { required: readonly (infer R)[] } ? R : never>
                : N extends { kind: 'union'; options: readonly (infer O)[] }
                  ? Infer<O>
                  : never;

type InferObject<P, Required> = Simplify<
  { -readonly [K in keyof P as K extends Required ? K : never]: Infer<P[K]> } & {
    -readonly [K in keyof P as K extends Required ? never : K]?: Infer<P[K]>;
  }
>;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

export type Path = readonly (string | number)[];

export interface SchemaIssue {
  path: Path;
  message: string;
}

/** Dot path as a person writes it: `model.outputs.score.column`, `key[1]`. */
export function formatPath(path: Path): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out === '' ? '(top level)' : out;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string "${value}"`;
  return `${typeof value} ${String(value)}`;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}

/** The closest known name, if it is close enough to be a likely typo. */
export function suggest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  for (const candidate of known) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestScore) {
      bestScore = d;
      best = candidate;
    }
  }
  const limit = Math.max(2, Math.floor(name.length / 3));
  return bestScore <= limit ? best : undefined;
}

function describeNode(node: SchemaNode): string {
  switch (node.kind) {
    case 'string':
      if (node.enumName) return node.enumName;
      return node.enum ? `one of ${node.enum.map((e) => `"${e}"`).join(', ')}` : 'a string';
    case 'integer':
      return 'a whole number';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'scalar':
      return 'a string, number or boolean';
    case 'array':
      return 'a list';
    case 'object':
    case 'map':
      return 'a mapping';
    case 'union':
      return node.options.map(describeNode).join(' or ');
  }
}

/** Checks `value` against `node`; returns every issue found, each with its path. */
export function validate(node: SchemaNode, value: unknown, path: Path = []): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const fail = (message: string) => issues.push({ path, message: `${formatPath(path)}: ${message}` });
  switch (node.kind) {
    case 'string': {
      if (typeof value !== 'string') {
        fail(`expected ${describeNode(node)}, got ${typeName(value)}`);
      } else if (node.enum && !node.enum.includes(value)) {
        const hint = suggest(value, node.enum);
        fail(`"${value}" is not ${describeNode(node)}${hint ? ` (did you mean "${hint}"?)` : ''}`);
      } else {
        const hint = node.patternHint ?? `must match ${node.pattern}`;
        if (node.pattern && !new RegExp(node.pattern).test(value)) fail(`"${value}" is not valid: ${hint}`);
        else {
          const reason = node.refine?.(value);
          if (reason !== undefined) fail(`"${value}" is not valid: ${reason}; ${hint}`);
        }
      }
      break;
    }
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || Number.isNaN(value) || (node.kind === 'integer' && !Number.isInteger(value))) {
        fail(`expected ${describeNode(node)}, got ${typeName(value)}`);
      } else if (node.minimum !== undefined && value < node.minimum) {
        fail(`must be at least ${node.minimum}, got ${value}`);
      } else if (node.maximum !== undefined && value > node.maximum) {
        fail(`must be at most ${node.maximum}, got ${value}`);
      }
      break;
    }
    case 'boolean':
      if (typeof value !== 'boolean') fail(`expected true or false, got ${typeName(value)}`);
      break;
    case 'scalar':
      if (!['string', 'number', 'boolean'].includes(typeof value))
        fail(`expected ${describeNode(node)}, got ${typeName(value)}`);
      break;
    case 'array': {
      if (!Array.isArray(value)) {
        fail(`expected a list, got ${typeName(value)}`);
        break;
      }
      if (node.minItems !== undefined && value.length < node.minItems) fail(`needs at least ${node.minItems} item(s)`);
      value.forEach((item, i) => issues.push(...validate(node.items, item, [...path, i])));
      if (node.uniqueItems) {
        const seen = value.map((item) => JSON.stringify(item));
        const dup = seen.findIndex((item, i) => seen.indexOf(item) !== i);
        if (dup >= 0)
          issues.push({
            path: [...path, dup],
            message: `${formatPath([...path, dup])}: ${seen[dup]} is listed twice; list each once`,
          });
      }
      break;
    }
    case 'map': {
      if (!isPlainObject(value)) {
        fail(`expected a mapping, got ${typeName(value)}`);
        break;
      }
      for (const [k, v] of Object.entries(value)) {
        if (node.keyPattern && !new RegExp(node.keyPattern).test(k)) {
          issues.push({
            path: [...path, k],
            message: `${formatPath([...path, k])}: the name "${k}" must match ${node.keyPattern}`,
          });
        }
        issues.push(...validate(node.values, v, [...path, k]));
      }
      break;
    }
    case 'object': {
      if (!isPlainObject(value)) {
        fail(`expected a mapping, got ${typeName(value)}`);
        break;
      }
      const known = Object.keys(node.properties);
      for (const [k, v] of Object.entries(value)) {
        const child = node.properties[k];
        if (!child) {
          const hint = suggest(k, known);
          issues.push({
            path: [...path, k],
            message: `${formatPath([...path, k])}: unknown key "${k}"${hint ? ` (did you mean "${hint}"?)` : ` (known keys: ${known.join(', ')})`}`,
          });
          continue;
        }
        issues.push(...validate(child, v, [...path, k]));
      }
      for (const req of node.required ?? []) {
        if (!(req in value)) fail(`missing required key "${req}"`);
      }
      if (node.oneKeyOf) {
        const present = node.oneKeyOf.filter((k) => k in value);
        if (present.length !== 1) {
          fail(
            `needs exactly one of ${node.oneKeyOf.join(', ')}${present.length > 1 ? ` (found ${present.join(' and ')})` : ''}`,
          );
        }
      }
      for (const rule of node.rules ?? []) {
        if (!holds(rule.if, value) || holds(rule.then, value)) continue;
        const at = [...path, ...rule.at];
        issues.push({ path: at, message: `${formatPath(at)}: ${rule.message}` });
      }
      break;
    }
    case 'union': {
      const results = node.options.map((opt) => validate(opt, value, path));
      if (results.some((r) => r.length === 0)) break;
      // Report the option whose shape matches (a mapping against the mapping option) for a precise message.
      const sameShape = node.options.findIndex(
        (opt) => (opt.kind === 'object' || opt.kind === 'map') === isPlainObject(value),
      );
      if (sameShape >= 0 && isPlainObject(value)) issues.push(...results[sameShape]!);
      else fail(`expected ${describeNode(node)}, got ${typeName(value)}`);
      break;
    }
  }
  return issues;
}

/**
 * Validates `value` against `node` and, when it passes, returns it typed as `Infer<typeof node>`.
 * Pass a node declared `as const satisfies SchemaNode` so the type is precise.
 */
export function check<const N extends SchemaNode>(
  node: N,
  value: unknown,
): { ok: true; value: Infer<N> } | { ok: false; issues: SchemaIssue[] } {
  const issues = validate(node, value);
  // The one cast: validate found no issue, so value has the shape Infer<N> describes (validate and Infer
  // follow the same rules per kind; test/config/infer.test.ts holds them together).
  return issues.length === 0 ? { ok: true, value: value as Infer<N> } : { ok: false, issues };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function lookup(value: unknown, path: readonly string[]): { found: boolean; value?: unknown } {
  let at = value;
  for (const key of path) {
    if (!isPlainObject(at) || !(key in at)) return { found: false };
    at = at[key];
  }
  return { found: true, value: at };
}

/** Whether `c` holds of `value`; the same reading as conditionSchema's in JSON Schema. */
function holds(c: Condition, value: unknown): boolean {
  if ('has' in c) return lookup(value, c.has).found;
  if ('lacks' in c) return !lookup(value, c.lacks).found;
  if ('is' in c) {
    const r = lookup(value, c.is);
    return r.found && r.value === c.value;
  }
  const r = lookup(value, c.atLeast);
  return r.found && Array.isArray(r.value) && r.value.length >= c.items;
}

/** `leaf` for the value at `path`, each step required (and, below the top, a mapping, as lookup wants). */
function nested(path: readonly string[], leaf: Record<string, unknown>): Record<string, unknown> {
  const [head, ...rest] = path;
  if (head === undefined) return leaf;
  const inner = rest.length === 0 ? leaf : { type: 'object', ...nested(rest, leaf) };
  return { required: [head], ...(Object.keys(inner).length > 0 ? { properties: { [head]: inner } } : {}) };
}

function conditionSchema(c: Condition): Record<string, unknown> {
  if ('has' in c) return nested(c.has, {});
  if ('lacks' in c) return { not: nested(c.lacks, {}) };
  if ('is' in c) return nested(c.is, { const: c.value });
  return nested(c.atLeast, { type: 'array', minItems: c.items });
}

/** One key needing another is JSON Schema's dependentRequired; every other rule is an if/then. */
function rulesSchema(rules: readonly Rule[]): Record<string, unknown> {
  const dependentRequired: Record<string, string[]> = {};
  const allOf: Record<string, unknown>[] = [];
  for (const rule of rules) {
    const key = 'has' in rule.if && rule.if.has.length === 1 ? rule.if.has[0]! : undefined;
    const needs = 'has' in rule.then && rule.then.has.length === 1 ? rule.then.has[0]! : undefined;
    if (key !== undefined && needs !== undefined) (dependentRequired[key] ??= []).push(needs);
    else allOf.push({ $comment: rule.message, if: conditionSchema(rule.if), then: conditionSchema(rule.then) });
  }
  return {
    ...(Object.keys(dependentRequired).length > 0 ? { dependentRequired } : {}),
    ...(allOf.length > 0 ? { allOf } : {}),
  };
}

/** The same schema as JSON Schema (draft 2020-12), for editors. */
export function toJsonSchema(node: SchemaNode): Record<string, unknown> {
  const base: Record<string, unknown> = { description: node.description };
  switch (node.kind) {
    case 'string':
      return {
        ...base,
        type: 'string',
        ...(node.enum ? { enum: [...node.enum] } : {}),
        ...(node.pattern ? { pattern: node.pattern } : {}),
        ...(node.default !== undefined ? { default: node.default } : {}),
      };
    case 'integer':
    case 'number':
      return {
        ...base,
        type: node.kind,
        ...(node.minimum !== undefined ? { minimum: node.minimum } : {}),
        ...(node.maximum !== undefined ? { maximum: node.maximum } : {}),
        ...(node.default !== undefined ? { default: node.default } : {}),
      };
    case 'boolean':
      return { ...base, type: 'boolean', ...(node.default !== undefined ? { default: node.default } : {}) };
    case 'scalar':
      return { ...base, type: ['string', 'number', 'boolean'] };
    case 'array':
      return {
        ...base,
        type: 'array',
        items: toJsonSchema(node.items),
        ...(node.minItems !== undefined ? { minItems: node.minItems } : {}),
        ...(node.uniqueItems ? { uniqueItems: true } : {}),
      };
    case 'map':
      return {
        ...base,
        type: 'object',
        additionalProperties: toJsonSchema(node.values),
        ...(node.keyPattern ? { propertyNames: { pattern: node.keyPattern } } : {}),
      };
    case 'object': {
      const out: Record<string, unknown> = {
        ...base,
        type: 'object',
        properties: Object.fromEntries(Object.entries(node.properties).map(([k, v]) => [k, toJsonSchema(v)])),
        additionalProperties: false,
      };
      if (node.required?.length) out.required = [...node.required];
      if (node.oneKeyOf) out.oneOf = node.oneKeyOf.map((k) => ({ required: [k] }));
      return { ...out, ...rulesSchema(node.rules ?? []) };
    }
    case 'union':
      return { ...base, anyOf: node.options.map(toJsonSchema) };
  }
}
