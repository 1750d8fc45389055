import cron, { type ScheduledTask } from 'node-cron';
import { afterAll, describe, expect, it } from 'vitest';
import { firesOncePerLocalTime, missedTicks } from '../../src/scheduler/scheduler.js';

// Real node-cron tasks (created, never started), as the scheduler makes them; all times fixed.
const tasks: ScheduledTask[] = [];
function task(expression: string, timezone = 'UTC'): ScheduledTask {
  const t = cron.createTask(expression, () => undefined, { timezone });
  tasks.push(t);
  return t;
}
afterAll(async () => {
  for (const t of tasks) await t.destroy();
});

const at = (iso: string) => new Date(iso);
const iso = (ds: Date[]) => ds.map((d) => d.toISOString());
const ticks = (expr: string, tz: string, after: string, before: string, limit = 100, seconds = false) =>
  iso(missedTicks(task(expr, tz), seconds, at(after), at(before), limit, tz, firesOncePerLocalTime(expr)));

describe('missedTicks in UTC', () => {
  it('lists the ticks strictly between `after` and `before`, oldest first', () => {
    expect(ticks('0 * * * *', 'UTC', '2024-01-01T10:00:00Z', '2024-01-01T13:30:00Z')).toEqual([
      '2024-01-01T11:00:00.000Z',
      '2024-01-01T12:00:00.000Z',
      '2024-01-01T13:00:00.000Z',
    ]);
  });

  it('excludes a tick exactly at `after` (it ran) and exactly at `before` (it is due now)', () => {
    expect(ticks('0 * * * *', 'UTC', '2024-01-01T10:00:00Z', '2024-01-01T13:00:00Z')).toEqual([
      '2024-01-01T11:00:00.000Z',
      '2024-01-01T12:00:00.000Z',
    ]);
    // `after` inside a minute: the next whole minute is the first candidate.
    expect(ticks('* * * * *', 'UTC', '2024-01-01T10:00:30.500Z', '2024-01-01T10:03:00Z')).toEqual([
      '2024-01-01T10:01:00.000Z',
      '2024-01-01T10:02:00.000Z',
    ]);
    expect(ticks('0 * * * *', 'UTC', '2024-01-01T10:00:00Z', '2024-01-01T10:59:59Z')).toEqual([]);
  });

  it('keeps only the newest `limit` ticks (the catchup limit)', () => {
    const all = ticks('*/5 * * * *', 'UTC', '2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z', 1000);
    expect(all.length).toBe(24 * 12 - 1); // 00:05 … 23:55
    expect(all[0]).toBe('2024-01-01T00:05:00.000Z');
    expect(ticks('*/5 * * * *', 'UTC', '2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z', 3)).toEqual([
      '2024-01-01T23:45:00.000Z',
      '2024-01-01T23:50:00.000Z',
      '2024-01-01T23:55:00.000Z',
    ]);
    expect(ticks('0 * * * *', 'UTC', '2024-01-01T10:00:00Z', '2024-01-01T13:30:00Z', 1)).toEqual([
      '2024-01-01T13:00:00.000Z',
    ]);
  });

  it('crosses midnight, and the end of a month and a (leap) year', () => {
    expect(ticks('30 23,0,1 * * *', 'UTC', '2024-02-28T22:00:00Z', '2024-03-01T02:00:00Z')).toEqual([
      '2024-02-28T23:30:00.000Z',
      '2024-02-29T00:30:00.000Z',
      '2024-02-29T01:30:00.000Z',
      '2024-02-29T23:30:00.000Z',
      '2024-03-01T00:30:00.000Z',
      '2024-03-01T01:30:00.000Z',
    ]);
    expect(ticks('0 0 * * *', 'UTC', '2023-12-30T12:00:00Z', '2024-01-02T12:00:00Z')).toEqual([
      '2023-12-31T00:00:00.000Z',
      '2024-01-01T00:00:00.000Z',
      '2024-01-02T00:00:00.000Z',
    ]);
  });

  it('steps by seconds for a six-field expression', () => {
    expect(ticks('*/20 * * * * *', 'UTC', '2024-01-01T10:00:00Z', '2024-01-01T10:01:00Z', 100, true)).toEqual([
      '2024-01-01T10:00:20.000Z',
      '2024-01-01T10:00:40.000Z',
    ]);
    expect(ticks('15 * * * * *', 'UTC', '2024-01-01T10:00:14.999Z', '2024-01-01T10:02:20Z', 100, true)).toEqual([
      '2024-01-01T10:00:15.000Z',
      '2024-01-01T10:01:15.000Z',
      '2024-01-01T10:02:15.000Z',
    ]);
  });

  it('returns nothing for a limit of 0', () => {
    expect(ticks('0 * * * *', 'UTC', '2024-01-01T10:00:00Z', '2024-01-01T13:30:00Z', 0)).toEqual([]);
  });
});

describe('missedTicks in a time zone', () => {
  it("ticks at the zone's wall-clock time across a DST change (New York, 9:00 daily)", () => {
    // EST (UTC−5) until 2024-03-10 02:00, EDT (UTC−4) after: 9:00 local is 14:00Z, then 13:00Z.
    expect(ticks('0 9 * * *', 'America/New_York', '2024-03-08T00:00:00Z', '2024-03-12T00:00:00Z')).toEqual([
      '2024-03-08T14:00:00.000Z',
      '2024-03-09T14:00:00.000Z',
      '2024-03-10T13:00:00.000Z',
      '2024-03-11T13:00:00.000Z',
    ]);
    // And back in November (EDT → EST on 2024-11-03).
    expect(ticks('0 9 * * *', 'America/New_York', '2024-11-02T00:00:00Z', '2024-11-05T00:00:00Z')).toEqual([
      '2024-11-02T13:00:00.000Z',
      '2024-11-03T14:00:00.000Z',
      '2024-11-04T14:00:00.000Z',
    ]);
  });

  it('crosses local midnight, which is not UTC midnight (Tokyo +09:00, Kolkata +05:30)', () => {
    expect(ticks('0 0 * * *', 'Asia/Tokyo', '2024-01-01T10:00:00Z', '2024-01-03T10:00:00Z')).toEqual([
      '2024-01-01T15:00:00.000Z',
      '2024-01-02T15:00:00.000Z',
    ]);
    expect(ticks('30 0 * * *', 'Asia/Kolkata', '2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z')).toEqual([
      '2024-01-01T19:00:00.000Z',
    ]);
    // Day-of-week is the local one: Monday 00:30 in Tokyo is Sunday 15:30Z.
    expect(ticks('30 0 * * 1', 'Asia/Tokyo', '2024-01-01T00:00:00Z', '2024-01-15T00:00:00Z')).toEqual([
      '2024-01-07T15:30:00.000Z',
      '2024-01-14T15:30:00.000Z',
    ]);
  });

  it('keeps real elapsed time for a sub-hourly job through the repeated autumn hour', () => {
    // 04:00Z = 00:00 EDT; 05:00Z = 01:00 EDT; 06:00Z = 01:00 EST (again); 07:00Z = 02:00 EST.
    expect(ticks('*/30 * * * *', 'America/New_York', '2024-11-03T04:00:00Z', '2024-11-03T07:00:00Z')).toEqual([
      '2024-11-03T04:30:00.000Z',
      '2024-11-03T05:00:00.000Z',
      '2024-11-03T05:30:00.000Z',
      '2024-11-03T06:00:00.000Z',
      '2024-11-03T06:30:00.000Z',
    ]);
  });

  it('has no tick for a local time skipped by the spring-forward gap (as node-cron itself skips it)', () => {
    // 02:30 does not exist in New York on 2024-03-10: the daily 02:30 run of that day never happens.
    expect(ticks('30 2 * * *', 'America/New_York', '2024-03-08T00:00:00Z', '2024-03-12T00:00:00Z')).toEqual([
      '2024-03-08T07:30:00.000Z',
      '2024-03-09T07:30:00.000Z',
      '2024-03-11T06:30:00.000Z',
    ]);
  });

  it('gives one tick per day for a daily job in the repeated autumn hour, as the live schedule does', () => {
    expect(ticks('30 1 * * *', 'America/New_York', '2024-11-01T00:00:00Z', '2024-11-05T00:00:00Z')).toEqual([
      '2024-11-01T05:30:00.000Z',
      '2024-11-02T05:30:00.000Z',
      '2024-11-03T05:30:00.000Z',
      '2024-11-04T06:30:00.000Z',
    ]);
  });
});

describe('missedTicks: the bounded scan', () => {
  it('finds the newest ticks of a gap up to 31 days (minute expressions)', () => {
    expect(ticks('0 6 * * *', 'UTC', '2024-01-01T00:00:00Z', '2024-01-31T00:00:00Z', 2)).toEqual([
      '2024-01-29T06:00:00.000Z',
      '2024-01-30T06:00:00.000Z',
    ]);
  });

  it('keeps the newest ticks after an outage longer than the scan bound', () => {
    expect(ticks('0 6 * * *', 'UTC', '2024-01-01T00:00:00Z', '2024-03-01T00:00:00Z', 1)).toEqual([
      '2024-02-29T06:00:00.000Z',
    ]);
  });

  it('keeps the newest ticks of a six-field expression after more than a day', () => {
    expect(ticks('0 0 12 * * *', 'UTC', '2024-01-01T00:00:00Z', '2024-01-04T00:00:00Z', 1, true)).toEqual([
      '2024-01-03T12:00:00.000Z',
    ]);
  });
});

describe('firesOncePerLocalTime', () => {
  it('is true for expressions at named hours, false for hourly and sub-hourly ones', () => {
    expect(firesOncePerLocalTime('30 1 * * *')).toBe(true);
    expect(firesOncePerLocalTime('0 6,18 * * *')).toBe(true);
    expect(firesOncePerLocalTime('0 0 12 * * *')).toBe(true); // six fields: the hour is the third
    expect(firesOncePerLocalTime('*/30 * * * *')).toBe(false);
    expect(firesOncePerLocalTime('0 */2 * * *')).toBe(false);
    expect(firesOncePerLocalTime('0 1-3 * * *')).toBe(false);
  });
});
