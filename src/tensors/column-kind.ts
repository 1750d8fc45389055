import { DataType, Precision, type Field, type Schema } from 'apache-arrow';

/** How a source column can feed a model: the four families mlscale converts between. */
export type ColumnKind = 'number' | 'bigint' | 'bool' | 'string' | 'unsupported';

export function columnKind(type: DataType): ColumnKind {
  if (DataType.isDictionary(type)) return columnKind(type.dictionary);
  if (DataType.isFloat(type)) return 'number';
  if (DataType.isInt(type)) return type.bitWidth === 64 ? 'bigint' : 'number';
  if (DataType.isBool(type)) return 'bool';
  if (DataType.isUtf8(type) || DataType.isLargeUtf8(type)) return 'string';
  return 'unsupported';
}

/**
 * A float16 column: Arrow keeps its values as raw 16-bit patterns (a Uint16Array), so only get()
 * reads them as numbers; a loop over its values buffer would feed 0.5 as 14336.
 */
export function isHalfFloat(type: DataType): boolean {
  return DataType.isFloat(type) && type.precision === Precision.HALF;
}

/**
 * Whether a column's values are its buffer's numbers (one per row): not for a dictionary-encoded
 * column, whose buffer holds indices into its dictionary (a categorical column as pandas writes
 * it), nor for float16 (raw bit patterns). Loops that read the buffer directly check this first.
 */
export function plainNumbers(type: DataType): boolean {
  return !DataType.isDictionary(type) && columnKind(type) === 'number' && !isHalfFloat(type);
}

/** The columns a source offers, in order, for messages such as "(have: a, b, c)". */
export function columnList(schema: Schema): string {
  const names = schema.fields.map((f: Field) => f.name);
  const shown = names.slice(0, 30).join(', ');
  return names.length > 30 ? `${shown}, … ${names.length - 30} more` : shown;
}
