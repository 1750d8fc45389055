import type { Field } from 'apache-arrow';
import type { SinkLayout } from '../../src/sink/sink.js';

/** A one-model sink layout with these key fields and one `score` column, for encoder tests. */
export function keyedLayout(keyFields: readonly Field[]): SinkLayout {
  return {
    job: 'j',
    shard: { index: 0, count: 1 },
    keyFields,
    outputs: [{ column: 'score', output: 'y', sqlType: 'double precision' }],
    modelName: 'm',
    modelVersion: 'v',
    models: [{ name: 'm', version: 'v' }],
    partition: '2024-01-01',
    runId: 'r',
    scoredAt: new Date(0),
  };
}
