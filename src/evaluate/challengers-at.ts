import type { Job } from '../config/job.js';
import type { PredictionsAt } from './predictions.js';

/** Where each challenger of the job wrote its predictions: its own table, or its own tree's partition. */
export function challengersAt(job: Job): { name: string; at: PredictionsAt }[] {
  return job.challengers.map(({ model, sink, job: challengerJob }) => ({
    name: model.name,
    at:
      sink.kind === 'postgres'
        ? { kind: 'postgres', url: sink.url, schema: sink.schema, table: sink.table, job: challengerJob }
        : { kind: 'parquet', path: sink.path },
  }));
}
