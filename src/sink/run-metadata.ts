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
