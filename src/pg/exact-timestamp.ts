import { DataType, TimeUnit, type Vector } from 'apache-arrow';

/**
 * A timestamp key's value as stored, in Unix microseconds (Postgres's precision; nanoseconds are
 * floored), or null. Read through `get()` a timestamp is a number of milliseconds: a key's
 * microseconds were lost, and values beyond 2^53 units came out wrong. Undefined for other types.
 */
export function exactMicros(v: Vector): ((row: number) => bigint | null) | undefined {
  if (!DataType.isTimestamp(v.type)) return undefined;
  // As Vector.get reads them: a slice's values start at its first row. A vector of several chunks
  // (rejected keys gathered over batches) is read chunk by chunk.
  const chunks = v.data.map((d) => d.values as unknown);
  if (!chunks.every((c) => c instanceof BigInt64Array)) return undefined;
  const values = chunks as BigInt64Array[];
  const starts: number[] = [];
  let at = 0;
  for (const d of v.data) {
    starts.push(at);
    at += d.length;
  }
  const unit = v.type.unit;
  const toMicros =
    unit === TimeUnit.SECOND
      ? (x: bigint) => x * 1_000_000n
      : unit === TimeUnit.MILLISECOND
        ? (x: bigint) => x * 1000n
        : unit === TimeUnit.MICROSECOND
          ? (x: bigint) => x
          : (x: bigint) => floorThousandth(x);
  if (values.length === 1) return (row) => (v.isValid(row) ? toMicros(values[0]![row]!) : null);
  return (row) => {
    if (!v.isValid(row)) return null;
    // The last chunk that starts at or before the row.
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= row) lo = mid;
      else hi = mid - 1;
    }
    return toMicros(values[lo]![row - starts[lo]!]!);
  };
}

/** Unix microseconds as Postgres reads a timestamp in text: `2024-01-01T00:00:00.000001`. */
export function microsText(us: bigint, zone: string): string {
  const ms = floorThousandth(us);
  const rest = Number(us - ms * 1000n);
  const iso = new Date(Number(ms)).toISOString();
  return `${iso.slice(0, -1)}${String(rest).padStart(3, '0')}${zone}`;
}

/** x / 1000, rounded down (BigInt division rounds toward zero). */
function floorThousandth(x: bigint): bigint {
  return x >= 0n ? x / 1000n : -((-x + 999n) / 1000n);
}
