import { DataType, type Field } from 'apache-arrow';

/** The Postgres column type that holds an Arrow column's values unchanged. */
export function sqlTypeForArrow(field: Field): string {
  let t = field.type;
  if (DataType.isDictionary(t)) t = t.dictionary;
  if (DataType.isInt(t)) {
    if (t.bitWidth <= 16 && t.isSigned) return 'smallint';
    if (t.bitWidth <= 16 || (t.bitWidth === 32 && t.isSigned)) return 'integer';
    if (t.bitWidth === 64 && !t.isSigned) return 'numeric';
    return 'bigint';
  }
  if (DataType.isFloat(t)) return t.precision === 2 ? 'double precision' : 'real';
  if (DataType.isBool(t)) return 'boolean';
  if (DataType.isUtf8(t) || DataType.isLargeUtf8(t)) return 'text';
  if (DataType.isDate(t)) return 'date';
  if (DataType.isTimestamp(t)) return t.timezone ? 'timestamptz' : 'timestamp';
  if (DataType.isDecimal(t)) return `numeric(${t.precision}, ${t.scale})`;
  if (DataType.isBinary(t) || DataType.isLargeBinary(t) || DataType.isFixedSizeBinary(t)) return 'bytea';
  return 'text';
}

/** A function that renders one value of the column in COPY text format (without escaping). */
export function copyFormatter(field: Field): (v: unknown) => string {
  let t = field.type;
  if (DataType.isDictionary(t)) t = t.dictionary;
  if (DataType.isBool(t)) return (v) => (v ? 't' : 'f');
  if (DataType.isDate(t)) return (v) => new Date(v as number).toISOString().slice(0, 10);
  if (DataType.isTimestamp(t)) return (v) => new Date(v as number).toISOString().replace('Z', t.timezone ? '+00' : '');
  if (DataType.isBinary(t) || DataType.isLargeBinary(t) || DataType.isFixedSizeBinary(t))
    return (v) => `\\\\x${Buffer.from(v as Uint8Array).toString('hex')}`;
  if (DataType.isDecimal(t)) return (v) => String(v);
  return (v) =>
    typeof v === 'object' ? JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x)) : String(v);
}
