import { RuntimeFailure } from '../errors.js';
import type { WireOutput } from './wire.js';
import type { OutputColumn, SqlType } from '../output/columns.js';

export type PredictionValues = Float64Array | BigInt64Array | Uint8Array | string[];

export interface PredictionColumn {
  readonly column: string;
  readonly sqlType: SqlType;
  readonly values: PredictionValues;
}

/** An empty column of `n` values for a prediction of this SQL type. */
export function allocatePredictions(sqlType: SqlType, n: number): PredictionValues {
  switch (sqlType) {
    case 'double precision':
      return new Float64Array(n);
    case 'bigint':
      return new BigInt64Array(n);
    case 'boolean':
      return new Uint8Array(n);
    case 'text':
      return new Array<string>(n);
  }
}

/** Turns the model's output tensors into one typed array per prediction column. */
export function toPredictions(
  outputs: readonly WireOutput[],
  columns: readonly OutputColumn[],
  rows: number,
  chunk: number,
): PredictionColumn[] {
  const byName = new Map(outputs.map((o) => [o.name, o]));
  return columns.map((col) => {
    const out = byName.get(col.output);
    if (!out)
      throw new RuntimeFailure(`scoring: chunk ${chunk}: the model returned no output "${col.output}".`, {
        code: 'output_missing',
      });
    if (out.dims[0] !== rows) {
      throw new RuntimeFailure(
        `scoring: chunk ${chunk}: output "${col.output}" has ${out.dims[0]} rows for ${rows} input rows; the model does not score row by row.`,
        { code: 'output_shape' },
      );
    }
    const width = out.dims.length >= 2 ? out.dims.slice(1).reduce((a, b) => a * b, 1) : 1;
    const index = col.index ?? 0;
    if (index >= width) {
      throw new RuntimeFailure(
        `scoring: chunk ${chunk}: output "${col.output}" has ${width} columns, so column ${index} does not exist; fix model.outputs.`,
        { code: 'output_shape' },
      );
    }
    if (col.index === undefined && width !== 1) {
      throw new RuntimeFailure(
        `scoring: chunk ${chunk}: output "${col.output}" has ${width} columns; pick one with model.outputs.${col.column}.column.`,
        { code: 'output_shape' },
      );
    }
    const values = allocatePredictions(col.sqlType, rows);
    const src = out.data as ArrayLike<number | bigint | string | boolean>;
    if (values instanceof Float64Array) {
      for (let r = 0; r < rows; r++) values[r] = Number(src[r * width + index]);
    } else if (values instanceof BigInt64Array) {
      for (let r = 0; r < rows; r++) {
        const v = src[r * width + index]!;
        values[r] = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)));
      }
    } else if (values instanceof Uint8Array) {
      for (let r = 0; r < rows; r++) values[r] = src[r * width + index] ? 1 : 0;
    } else {
      for (let r = 0; r < rows; r++) values[r] = String(src[r * width + index]);
    }
    return { column: col.column, sqlType: col.sqlType, values };
  });
}
