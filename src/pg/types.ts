import {
  Bool,
  DataType,
  DateDay,
  Float32,
  Float64,
  Int16,
  Int32,
  Int64,
  TimestampMicrosecond,
  Utf8,
  type Field,
} from 'apache-arrow';
import { OID } from './binary-format.js';

/** Postgres types mlscale reads, by OID: the name Postgres gives it and the Arrow type it becomes. */
export const PG_TYPES: Readonly<Record<number, { readonly name: string; readonly arrow: () => DataType }>> = {
  [OID.bool]: { name: 'boolean', arrow: () => new Bool() },
  [OID.int8]: { name: 'bigint', arrow: () => new Int64() },
  [OID.int2]: { name: 'smallint', arrow: () => new Int16() },
  [OID.int4]: { name: 'integer', arrow: () => new Int32() },
  [OID.float4]: { name: 'real', arrow: () => new Float32() },
  [OID.float8]: { name: 'double precision', arrow: () => new Float64() },
  [OID.numeric]: { name: 'numeric', arrow: () => new Float64() },
  [OID.text]: { name: 'text', arrow: () => new Utf8() },
  [OID.varchar]: { name: 'character varying', arrow: () => new Utf8() },
  [OID.bpchar]: { name: 'character', arrow: () => new Utf8() },
  [OID.name]: { name: 'name', arrow: () => new Utf8() },
  [OID.date]: { name: 'date', arrow: () => new DateDay() },
  [OID.timestamp]: { name: 'timestamp without time zone', arrow: () => new TimestampMicrosecond() },
  [OID.timestamptz]: { name: 'timestamp with time zone', arrow: () => new TimestampMicrosecond('UTC') },
};

/** The value type of a dictionary-encoded column, or the column's own type. */
export function valueType(field: Field): DataType {
  const t = field.type;
  return DataType.isDictionary(t) ? t.dictionary : t;
}

/** The Postgres column type that holds an Arrow column's values unchanged. */
export function sqlTypeForArrow(field: Field): string {
  const t = valueType(field);
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
  const t = valueType(field);
  if (DataType.isBool(t)) return (v) => (v ? 't' : 'f');
  if (DataType.isDate(t)) return (v) => new Date(v as number).toISOString().slice(0, 10);
  if (DataType.isTimestamp(t)) {
    const zone = t.timezone ? '+00' : '';
    return (v) => new Date(v as number).toISOString().replace('Z', zone);
  }
  // One backslash: the COPY text is escaped after (copyText), and Postgres reads bytea's hex form.
  if (DataType.isBinary(t) || DataType.isLargeBinary(t) || DataType.isFixedSizeBinary(t))
    return (v) => `\\x${Buffer.from(v as Uint8Array).toString('hex')}`;
  // get() gives a decimal's unscaled integer: the point goes `scale` digits from the right.
  if (DataType.isDecimal(t)) return (v) => scaledDecimal(String(v), t.scale);
  return (v) =>
    typeof v === 'object' ? JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x)) : String(v);
}

/** An unscaled decimal integer ("-50000") as the number it stands for at `scale` ("-500.00"). */
export function scaledDecimal(unscaled: string, scale: number): string {
  if (scale <= 0) return scale === 0 ? unscaled : unscaled + '0'.repeat(-scale);
  const negative = unscaled.startsWith('-');
  const digits = (negative ? unscaled.slice(1) : unscaled).padStart(scale + 1, '0');
  return `${negative ? '-' : ''}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}
