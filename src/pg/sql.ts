/** Quotes an identifier that was already validated as [A-Za-z_][A-Za-z0-9_]*; quoting keeps case and reserved words safe. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function qualified(schema: string, table: string): string {
  return `${ident(schema)}.${ident(table)}`;
}

/** Escapes one value for COPY ... FROM STDIN in text format. */
export function copyText(value: string): string {
  // Fast path: most values need no escaping.
  if (!/[\\\t\n\r]/.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

/** A string literal, for the few places SQL cannot take a bind parameter (DDL, view bodies, comments). */
export function literal(value: string): string {
  // With a backslash, an escape string: read alike whatever standard_conforming_strings is (off,
  // a model version C:\v1 became C:v1 in a column default).
  if (value.includes('\\')) return `E'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
  return `'${value.replace(/'/g, "''")}'`;
}
