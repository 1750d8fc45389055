import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Bool, Int32, Table, TimestampMillisecond, vectorFromArray } from 'apache-arrow';
import { parseJob } from '../../src/config/load-job.js';
import { keyText, readLabels } from '../../src/evaluate/labels.js';
import { writeParquet } from '../support/data.js';
import { scratchDir } from '../support/job.js';

// Labels read from a real Parquet file: nulls, duplicates, outcomes not known yet.
const s = scratchDir('labels');
afterAll(() => s.remove());

const job = (knownAt: boolean) =>
  parseJob(
    `name: l
model: { path: m.onnx, features: [a] }
source: { parquet: { path: in } }
key: [id]
labels: { parquet: { path: "labels/ds={{ ds }}" }, column: churned${knownAt ? ', known_at: known_at' : ''} }
sink: { parquet: { path: "out/ds={{ ds }}" } }
`,
    path.join(s.dir, 'job.yaml'),
    { params: { ds: '2024-01-01' } },
  );

describe('readLabels', () => {
  const t = (iso: string) => Date.parse(iso);
  writeParquet(
    path.join(s.dir, 'labels', 'ds=2024-01-01', 'l.parquet'),
    new Table({
      id: vectorFromArray([1, 2, 3, 3, 4, 5], new Int32()),
      churned: vectorFromArray([true, false, false, true, null, true], new Bool()),
      known_at: vectorFromArray(
        [
          t('2024-01-03T00:00:00Z'),
          t('2024-01-04T00:00:00Z'),
          t('2024-01-05T00:00:00Z'),
          t('2024-01-02T00:00:00Z'),
          t('2024-01-03T00:00:00Z'),
          t('2024-03-01T00:00:00Z'),
        ],
        new TimestampMillisecond(),
      ),
    }),
  );

  it('keeps the latest known label of a key, counts nulls and duplicates, and leaves out outcomes known after now', async () => {
    const l = await readLabels(job(true), new Date('2024-02-01T00:00:00Z'));
    expect([...l.byKey.entries()]).toEqual([
      [keyText([1]), 1],
      [keyText([2]), 0],
      [keyText([3]), 0],
    ]);
    expect([l.rows, l.nulls, l.duplicates, l.notYetKnown, l.knownUntil]).toEqual([
      6,
      1,
      1,
      1,
      '2024-01-05T00:00:00.000Z',
    ]);
  });

  it('without known_at every label counts, the last read of a key winning', async () => {
    const l = await readLabels(job(false), new Date('2024-02-01T00:00:00Z'));
    expect(l.byKey.get(keyText([3]))).toBe(1);
    expect(l.byKey.get(keyText([5]))).toBe(1);
    expect([l.notYetKnown, l.knownUntil]).toEqual([0, null]);
  });
});
