import { METADATA_COLUMNS, type MetadataColumn } from '../output/columns.js';
import type { SinkLayout } from './sink.js';

/** One row's metadata values, in METADATA_COLUMNS order: strings, and the scoring time. */
export type MetadataValues = readonly (string | Date)[];

/**
 * The metadata every row of this run carries: `run` for rows of the run's own identity, and
 * `perModel[i]` for rows that layout.models[i] scored under combine: route.
 */
export function metadataRows(layout: SinkLayout): { run: MetadataValues; perModel: MetadataValues[] } {
  const row = (modelName: string, modelVersion: string): MetadataValues => {
    const values: Record<MetadataColumn, string | Date> = {
      model_name: modelName,
      model_version: modelVersion,
      partition: layout.partition,
      run_id: layout.runId,
      scored_at: layout.scoredAt,
    };
    return METADATA_COLUMNS.map((c) => values[c.name]);
  };
  return {
    run: row(layout.modelName, layout.modelVersion),
    perModel: layout.models.map((m) => row(m.name, m.version)),
  };
}

/**
 * The metadata columns whose value is not the same on every row of the run: each row's own
 * model under combine: route, none otherwise. A COPY sends only these; the others are the run
 * table's column defaults while it loads (runConstants).
 */
export function rowMetadataColumns(layout: SinkLayout): readonly MetadataColumn[] {
  return layout.routed ? ['model_name', 'model_version'] : [];
}

/** The metadata the same on every row of the run: each column with its value. */
export function runConstants(layout: SinkLayout): { column: MetadataColumn; value: string | Date }[] {
  const varying = rowMetadataColumns(layout);
  const { run } = metadataRows(layout);
  return METADATA_COLUMNS.flatMap((c, i) => (varying.includes(c.name) ? [] : [{ column: c.name, value: run[i]! }]));
}

/** Of a row's metadata values (METADATA_COLUMNS order), those of rowMetadataColumns. */
export function rowMetadata(layout: SinkLayout, values: MetadataValues): MetadataValues {
  const varying = rowMetadataColumns(layout);
  return values.filter((_, i) => varying.includes(METADATA_COLUMNS[i]!.name));
}
