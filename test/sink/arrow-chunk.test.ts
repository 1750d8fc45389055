import { Field, Float32, Int32, Int64, Table, Utf8, tableFromIPC, tableToIPC, vectorFromArray } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { chunkTable } from '../../src/sink/arrow-chunk.js';
import type { SinkLayout } from '../../src/sink/sink.js';

// A Parquet sink holds each chunk's keys until its part is written (262,144 rows). A key column
// that is a view into the source batch holds the batch's whole buffer, every feature column with
// it: the part's table must own copies of its keys, equal to them, nulls included.
function sourceBatch() {
  const n = 5;
  const t = new Table({
    id: vectorFromArray([10n, null, 30n, 40n, 50n], new Int64()),
    small: vectorFromArray([1, 2, null, 4, 5], new Int32()),
    name: vectorFromArray(['a', 'bé', null, '', 'long string'], new Utf8()),
    f: vectorFromArray(
      Array.from({ length: n }, (_, i) => i / 2),
      new Float32(),
    ),
  });
  // Read back from one IPC stream, as the Parquet thread hands batches over: every column is a
  // view into that stream's buffer.
  return tableFromIPC(tableToIPC(t, 'stream')).batches[0]!;
}

const layout = (keys: string[], batch: ReturnType<typeof sourceBatch>): SinkLayout => ({
  job: 'j',
  shard: { index: 0, count: 1 },
  keyFields: keys.map((k) => batch.schema.fields.find((f) => f.name === k)! as Field),
  outputs: [{ column: 'score', output: 'y', sqlType: 'double precision' }],
  modelName: 'm',
  modelVersion: 'v',
  models: [{ name: 'm', version: 'v' }],
  partition: '2024-01-01',
  runId: 'r',
  scoredAt: new Date(0),
});

describe('chunkTable', () => {
  it.each([['id'], ['small'], ['name'], ['f'], ['id', 'name']])(
    'copies key column(s) %s out of the source batch, values and nulls alike',
    (...keys) => {
      const batch = sourceBatch();
      const source = batch.getChild('f')!.data[0]!.values.buffer;
      const t = chunkTable(
        {
          index: 0,
          rows: batch.numRows,
          keys: keys.map((k) => batch.getChild(k)!),
          keep: undefined,
          predictions: [{ column: 'score', sqlType: 'double precision', values: new Float64Array(batch.numRows) }],
        },
        layout(keys, batch),
      );
      for (const k of keys) {
        const col = t.getChild(k)!;
        expect(col.data.map((d) => d.values.buffer)).not.toContain(source);
        expect(String(col.type)).toBe(String(batch.getChild(k)!.type));
        expect([...col]).toEqual([...batch.getChild(k)!]);
        expect(col.nullCount).toBe(batch.getChild(k)!.nullCount);
      }
    },
  );
});
