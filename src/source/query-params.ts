import { UsageError } from '../errors.js';

/**
 * Finds `:name` parameters in SQL, skipping string literals, quoted identifiers, comments and
 * `::type` casts, and replaces each with `replace(name)`. Values are never spliced: callers
 * replace a parameter with a placeholder or a typed reference to a bound value.
 */
export function rewriteParams(sql: string, replace: (name: string) => string): { sql: string; names: string[] } {
  const names: string[] = [];
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    const next = sql[i + 1];
    if (ch === "'" || ch === '"') {
      const end = closing(sql, i, ch);
      out += sql.slice(i, end);
      i = end;
    } else if (ch === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end < 0 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop;
    } else if (ch === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      const stop = end < 0 ? sql.length : end + 2;
      out += sql.slice(i, stop);
      i = stop;
    } else if (ch === '$') {
      // Dollar-quoted string: $tag$ ... $tag$
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (m) {
        const end = sql.indexOf(m[0], i + m[0].length);
        const stop = end < 0 ? sql.length : end + m[0].length;
        out += sql.slice(i, stop);
        i = stop;
      } else {
        out += ch;
        i++;
      }
    } else if (ch === ':' && next === ':') {
      out += '::';
      i += 2;
    } else if (ch === ':' && next !== undefined && /[A-Za-z_]/.test(next)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i + 1))!;
      names.push(m[0]);
      out += replace(m[0]);
      i += 1 + m[0].length;
    } else {
      out += ch;
      i++;
    }
  }
  return { sql: out, names: [...new Set(names)] };
}

function closing(sql: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < sql.length) {
    if (sql[i] === quote) {
      if (sql[i + 1] === quote) i += 2;
      else return i + 1;
    } else i++;
  }
  return sql.length;
}

/** The value of each :name the query uses, from the job parameters; a missing one is an error. */
export function paramValues(names: readonly string[], params: Readonly<Record<string, string>>): string[] {
  return names.map((n) => {
    const v = params[n];
    if (v === undefined) {
      throw new UsageError(
        `source.postgres.query: parameter :${n} has no value (known: ${Object.keys(params).sort().join(', ')}); add it under params: or pass --param ${n}=VALUE.`,
        { code: 'unknown_param' },
      );
    }
    return v;
  });
}
