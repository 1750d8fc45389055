import { describe, expect, it } from 'vitest';
import { newRunRecord, type RunRecord } from '../../src/ledger/record.js';
import { renderReport, verdict } from '../../src/report/render-report.js';
import { trendColumn } from '../../src/report/trend.js';
import type { Distribution, RunStats } from '../../src/stats/types.js';

// The report's decisions, on records written by hand: those of today and those older versions
// stored (ten bins from min to max, no kinds, no class counts, no output order).

const dist = (over: Partial<Distribution> = {}): Distribution => ({
  count: 100,
  mean: 0.5,
  std: 0.1,
  min: 0.1,
  max: 0.9,
  quantiles: { p50: 0.5 },
  histogram: { edges: Array.from({ length: 11 }, (_, i) => 0.1 + i * 0.08), counts: Array<number>(10).fill(10) },
  ...over,
});
const label = (ones: number) =>
  dist({
    mean: ones / 100,
    min: 0,
    max: 1,
    quantiles: { p50: ones > 50 ? 1 : 0 },
    histogram: { edges: [0, 0.5, 1], counts: [100 - ones, ones] },
  });

function run(id: string, stats: RunStats | null, over: Partial<RunRecord> = {}): RunRecord {
  return {
    ...newRunRecord({
      run_id: id,
      job: 'j',
      partition: id,
      shard: '0/1',
      params: {},
      model_name: 'm',
      model_version: '1',
      model_sha256: 'x',
      started_at: '2024-01-01T00:00:00.000Z',
    }),
    status: 'succeeded',
    stats,
    ...over,
  };
}
const drift = (drifted: string[]) => ({
  baseline_run_id: 'b',
  max_psi: 0.2,
  psi: { predictions: {}, features: {} },
  drifted,
});

describe('trendColumn', () => {
  it('is the first float column in the recorded output order, whatever the key order', () => {
    const stats: RunStats = {
      predictions: { label: { ...label(40), kind: 'integer' }, score: { ...dist(), kind: 'float' } },
      features: {},
      prediction_columns: ['label', 'score'],
    };
    expect(trendColumn(stats)?.column).toBe('score');
    expect(trendColumn({ ...stats, prediction_columns: ['score', 'label'] })?.column).toBe('score');
  });

  it('for older runs: the first column by name with fractional values, the same however the keys were stored', () => {
    const a: RunStats = { predictions: { label: label(40), score: dist() }, features: {} };
    const b: RunStats = { predictions: { score: dist(), label: label(40) }, features: {} };
    expect(trendColumn(a)).toEqual(trendColumn(b));
    expect(trendColumn(a)?.column).toBe('score');
    expect(trendColumn({ predictions: {}, features: {} })).toBeUndefined();
  });
});

describe('verdict', () => {
  it('is green only for a finished run with no drifted column', () => {
    const stats = (d: string[]): RunStats => ({ predictions: {}, features: {}, drift: drift(d) });
    expect(verdict(run('a', stats([])))).toBe('clean');
    expect(verdict(run('a', null))).toBe('clean');
    expect(verdict(run('a', stats(['x0', 'score'])))).toBe('drifted');
    expect(verdict(run('a', stats(['x0']), { status: 'failed', error: 'drift: …' }))).toBe('failed');
    expect(verdict(run('a', null, { status: 'abandoned' }))).toBe('failed');
    expect(verdict(run('a', null, { status: 'running' }))).toBe('running');
  });
});

describe('renderReport on older records', () => {
  it('draws both runs on common bins even when each kept its own ten edges', () => {
    const old: RunStats = { predictions: { score: dist() }, features: {} };
    const shifted: RunStats = {
      predictions: {
        score: dist({
          histogram: {
            edges: Array.from({ length: 11 }, (_, i) => 0.3 + i * 0.06),
            counts: Array<number>(10).fill(10),
          },
        }),
      },
      features: {},
    };
    const html = renderReport({ run: run('now', shifted), baseline: run('then', old), trend: [] });
    const xs = (cls: string) =>
      [...html.matchAll(new RegExp(`<rect class="${cls}" x="([\\d.]+)"[^>]* width="([\\d.]+)"`, 'g'))].map(
        (m) => `${m[1]}/${m[2]}`,
      );
    expect(xs('bar-current').length).toBeGreaterThan(1);
    expect(xs('bar-baseline')).toEqual(xs('bar-current'));
  });
});
