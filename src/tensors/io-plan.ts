import type { Schema } from 'apache-arrow';
import type { ModelSpec } from '../config/job.js';
import { UsageError } from '../errors.js';
import type { LoadedModel } from '../model/load-model.js';
import type { ValueInfo } from '../model/onnx-graph.js';
import { columnKind, columnList, type ColumnKind } from './column-kind.js';
import { METADATA_NAMES, type OutputColumn, type SqlType } from '../output/columns.js';

/** Element types the scorer can build feeds for. */
export const FEEDABLE = ['float32', 'float64', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool', 'string'] as const;
export type FeedType = (typeof FEEDABLE)[number];

/** One model input and the source columns that fill it (several for a 2-D [N, F] input). */
export interface InputFeed {
  readonly input: string;
  readonly type: FeedType;
  readonly columns: readonly string[];
  /** Rank of the tensor: 1 for [N], 2 for [N, F]. */
  readonly rank: 1 | 2;
}

export interface IoPlan {
  readonly inputs: readonly InputFeed[];
  readonly outputs: readonly OutputColumn[];
  /** Model outputs fetched from onnxruntime (those the columns use). */
  readonly fetch: readonly string[];
  /** The model declares a fixed batch of 1: rows are scored one at a time. */
  readonly rowByRow: boolean;
  readonly warnings: readonly string[];
}

function feedType(input: ValueInfo): FeedType {
  const t = input.elementType ?? 'unknown';
  if ((FEEDABLE as readonly string[]).includes(t)) return t as FeedType;
  throw new UsageError(
    `model input "${input.name}" has element type ${t}, which mlscale cannot feed; re-export the model with float, double, int64, int32, bool or string inputs.`,
    { code: 'model_input_type' },
  );
}

function canFeed(kind: ColumnKind, type: FeedType): boolean {
  if (kind === 'unsupported') return false;
  if (type === 'string') return true; // numbers and booleans are cast to strings, as skl2onnx pipelines expect
  return kind !== 'string';
}

/**
 * Decides, before any row is read, which source columns feed which model inputs and which
 * outputs become which columns. Every mismatch is a UsageError naming the column or input.
 */
export function planIo(
  spec: ModelSpec,
  keys: readonly string[],
  model: LoadedModel,
  schema: Schema,
  label = 'model',
): IoPlan {
  const warnings: string[] = [];
  const fields = new Map(schema.fields.map((f) => [f.name, f]));
  const need = (column: string, what: string) => {
    const field = fields.get(column);
    if (!field) {
      throw new UsageError(
        `source: column "${column}" ${what} not found (have: ${columnList(schema)}); fix the name in the job or the source.`,
        { code: 'column_missing' },
      );
    }
    return field;
  };
  for (const k of keys) need(k, '(a key column)');

  const modelInputs = model.graph.inputs;
  for (const input of modelInputs) {
    if (!input.isTensor) {
      throw new UsageError(
        `model input "${input.name}" is ${input.typeText}, not a tensor; mlscale feeds tensors only, so re-export the model with one tensor input per column.`,
        { code: 'model_input_type' },
      );
    }
  }
  const features = spec.features;
  let inputs: InputFeed[];
  if (spec.inputs) {
    const names = new Set(modelInputs.map((i) => i.name));
    const unknown = Object.keys(spec.inputs).find((k) => !names.has(k));
    if (unknown) {
      throw new UsageError(
        `${label}.inputs: the model has no input "${unknown}" (have: ${[...names].join(', ')}); use the names mlscale inspect shows.`,
        { code: 'input_unknown' },
      );
    }
    inputs = modelInputs.map((input) => {
      const columns = spec.inputs![input.name] ?? [input.name];
      if (!spec.inputs![input.name] && !fields.has(input.name)) {
        throw new UsageError(
          `model input "${input.name}" has no source column of that name (have: ${columnList(schema)}); map it under ${label}.inputs.`,
          { code: 'input_unfed' },
        );
      }
      const width = input.shape?.[1];
      if (input.shape?.length === 2 && typeof width === 'number' && width !== columns.length) {
        throw new UsageError(
          `${label}.inputs.${input.name}: model input "${input.name}" expects ${width} columns but ${columns.length} are listed; list exactly ${width}.`,
          { code: 'features_count' },
        );
      }
      if (input.shape?.length !== 2 && columns.length !== 1) {
        throw new UsageError(
          `${label}.inputs.${input.name}: model input "${input.name}" is ${input.typeText}, one value per row; list one column.`,
          { code: 'features_count' },
        );
      }
      return {
        input: input.name,
        type: feedType(input),
        columns: [...columns],
        rank: input.shape?.length === 1 ? 1 : 2,
      };
    });
  } else if (modelInputs.length === 1 && (features || isWide(modelInputs[0]!))) {
    const input = modelInputs[0]!;
    const width = input.shape?.[1];
    if (!features) {
      throw new UsageError(
        `model input "${input.name}" takes ${width} features as one [N, ${width}] tensor; list the source columns in order under ${label}.features.`,
        { code: 'features_missing' },
      );
    }
    if (typeof width === 'number' && width !== features.length) {
      throw new UsageError(
        `model input "${input.name}" expects ${width} features but ${label}.features lists ${features.length}; list exactly ${width} columns.`,
        { code: 'features_count' },
      );
    }
    inputs = [{ input: input.name, type: feedType(input), columns: [...features], rank: 2 }];
  } else {
    if (features && features.length !== modelInputs.length) {
      throw new UsageError(
        `${label}.features lists ${features.length} columns but the model has ${modelInputs.length} inputs (${modelInputs.map((i) => i.name).join(', ')}); list one column per input, in input order, or map them under ${label}.inputs.`,
        { code: 'features_count' },
      );
    }
    const wide = modelInputs.find((i) => isWide(i));
    if (wide) {
      throw new UsageError(
        `model input "${wide.name}" takes several columns (${wide.typeText}) and the model has other inputs too; map each input to its columns under ${label}.inputs.`,
        { code: 'features_missing' },
      );
    }
    inputs = modelInputs.map((input, i) => {
      const column = features ? features[i]! : input.name;
      if (!features && !fields.has(column)) {
        throw new UsageError(
          `model input "${input.name}" has no source column of that name (have: ${columnList(schema)}); rename the column in the source or list ${label}.features in input order.`,
          { code: 'input_unfed' },
        );
      }
      return {
        input: input.name,
        type: feedType(input),
        columns: [column],
        rank: (input.shape?.length ?? 2) === 1 ? 1 : 2,
      };
    });
  }
  for (const feed of inputs) {
    for (const column of feed.columns) {
      const field = need(column, `(feeds model input "${feed.input}")`);
      const kind = columnKind(field.type);
      if (!canFeed(kind, feed.type)) {
        throw new UsageError(
          `source: column "${column}" has type ${field.type} and cannot feed model input "${feed.input}" (${feed.type}); cast it in the source or pick another column.`,
          { code: 'column_type' },
        );
      }
    }
  }

  const rowByRow = modelInputs.some((i) => i.shape?.[0] === 1);
  if (rowByRow)
    warnings.push(
      `model declares a fixed batch size of 1; scoring row by row, which is much slower than batches (re-export with a dynamic batch dimension).`,
    );

  const outputs = planOutputs(spec, model, warnings, label);
  const taken = new Set<string>([...keys, ...METADATA_NAMES]);
  for (const o of outputs) {
    if (taken.has(o.column)) {
      throw new UsageError(
        `${label}.outputs: column "${o.column}" clashes with a key or metadata column; give the prediction another name under model.outputs.`,
        { code: 'output_clash' },
      );
    }
    taken.add(o.column);
  }
  return { inputs, outputs, fetch: [...new Set(outputs.map((o) => o.output))], rowByRow, warnings };
}

function isWide(input: ValueInfo): boolean {
  const w = input.shape?.[1];
  return input.shape?.length === 2 && w !== 1;
}

function sqlTypeOf(elementType: string | undefined): SqlType {
  if (elementType === 'string') return 'text';
  if (elementType === 'bool') return 'boolean';
  if (elementType?.startsWith('int') || elementType?.startsWith('uint')) return 'bigint';
  return 'double precision';
}

function sanitize(name: string): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return /^[a-z_]/.test(s) ? s : `c_${s}`;
}

export function planOutputs(
  spec: Pick<ModelSpec, 'outputs'>,
  model: LoadedModel,
  warnings: string[],
  label: string,
): OutputColumn[] {
  const byName = new Map(model.graph.outputs.map((o) => [o.name, o]));
  const zipLabels = new Map(model.zipmaps.map((z) => [z.output, z.labels]));
  if (spec.outputs) {
    return Object.entries(spec.outputs).map(([column, o]) => {
      const out = byName.get(o.output);
      if (!out) {
        throw new UsageError(
          `${label}.outputs.${column}: the model has no output "${o.output}" (have: ${[...byName.keys()].join(', ')}); use one of those names.`,
          { code: 'output_missing' },
        );
      }
      if (!out.isTensor) {
        throw new UsageError(
          `${label}.outputs.${column}: output "${o.output}" is ${out.typeText}, not a tensor; pick a tensor output.`,
          { code: 'output_type' },
        );
      }
      const width = out.shape?.[1];
      if (o.column !== undefined) {
        if ((out.shape?.length ?? 0) < 2) {
          throw new UsageError(
            `${label}.outputs.${column}: output "${o.output}" is one value per row (${out.typeText}); remove column:.`,
            { code: 'output_column' },
          );
        }
        if (typeof width === 'number' && o.column >= width) {
          throw new UsageError(
            `${label}.outputs.${column}: column ${o.column} is out of range for output "${o.output}" (${out.typeText}, columns 0..${width - 1}).`,
            { code: 'output_column' },
          );
        }
      } else if (out.shape?.length === 2 && width !== 1) {
        throw new UsageError(
          `${label}.outputs.${column}: output "${o.output}" has several columns (${out.typeText}); pick one with column: N.`,
          { code: 'output_column' },
        );
      }
      return {
        column,
        output: o.output,
        ...(o.column !== undefined ? { index: o.column } : {}),
        sqlType: sqlTypeOf(out.elementType),
      };
    });
  }
  const columns: OutputColumn[] = [];
  const skipped: string[] = [];
  for (const out of model.graph.outputs) {
    if (!out.isTensor) {
      skipped.push(`${out.name} (${out.typeText})`);
      continue;
    }
    const width = out.shape?.length === 2 ? out.shape[1] : 1;
    const sqlType = sqlTypeOf(out.elementType);
    if (width === 1) {
      columns.push({ column: sanitize(out.name), output: out.name, sqlType });
    } else if (typeof width === 'number') {
      const labels = zipLabels.get(out.name);
      for (let k = 0; k < width; k++) {
        const column = labels ? sanitize(`probability_${labels[k]}`) : sanitize(`${out.name}_${k}`);
        columns.push({ column, output: out.name, index: k, sqlType });
      }
    } else {
      skipped.push(
        `${out.name} (${out.typeText}: unknown number of columns; map it under model.outputs with column: N)`,
      );
    }
  }
  if (skipped.length > 0) warnings.push(`model outputs not written: ${skipped.join('; ')}.`);
  if (columns.length === 0) {
    throw new UsageError(
      `model: no tensor output can be written (${skipped.join('; ')}); map one under model.outputs.`,
      { code: 'output_missing' },
    );
  }
  return columns;
}
