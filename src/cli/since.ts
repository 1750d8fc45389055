import { UsageError } from '../errors.js';

/** --since: a date, an ISO time, or a duration back from now (7d, 12h, 30m). */
export function parseSince(text: string, now = Date.now()): Date {
  const m = /^(\d+)([dhm])$/.exec(text.trim());
  if (m) return new Date(now - Number(m[1]) * { d: 86_400_000, h: 3_600_000, m: 60_000 }[m[2] as 'd' | 'h' | 'm']);
  const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
  if (Number.isNaN(t))
    throw new UsageError(
      `--since: "${text}" is not a date, a time or a duration; write 2024-01-31, 2024-01-31T06:00:00Z or 7d.`,
    );
  return new Date(t);
}
