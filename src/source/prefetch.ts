import type { RecordBatch } from 'apache-arrow';

/** Batches asked for ahead of the pipeline: enough to cover a read's wait, few enough to hold. */
const READ_AHEAD = 2;

/**
 * A source's batches, read ahead: the first ones are asked for as soon as the run holds its lock,
 * so the source connects, runs its query or decodes its first row group while the scoring
 * workers finish loading; afterwards the next batch's I/O (a file range, a COPY message) is under
 * way while the pipeline works on this one. `cancel` ends the read for a run that stops before
 * its pipeline does.
 */
export interface Prefetched {
  readonly batches: AsyncIterator<RecordBatch>;
  cancel(): Promise<void>;
}

export function prefetch(batches: AsyncIterable<RecordBatch>, onFirst?: () => void): Prefetched {
  const it = batches[Symbol.asyncIterator]();
  const ahead: Promise<IteratorResult<RecordBatch>>[] = [];
  let done = false;
  const ask = () => {
    // An async generator queues calls to next(): they resolve in order, one batch each.
    const p = it.next();
    // Awaited in order by the pipeline; a failure before that (the run stopped first) is not unhandled.
    p.catch(() => undefined);
    ahead.push(p);
  };
  ask();
  void ahead[0]!.then(
    () => onFirst?.(),
    () => undefined,
  );
  return {
    batches: {
      async next() {
        if (done) return { done: true, value: undefined };
        while (ahead.length < READ_AHEAD) ask();
        const r = await ahead.shift()!;
        if (r.done) done = true;
        else ask();
        return r;
      },
      async return() {
        done = true;
        ahead.length = 0;
        return (await it.return?.(undefined)) ?? { done: true, value: undefined };
      },
    },
    async cancel() {
      done = true;
      ahead.length = 0;
      await it.return?.(undefined).catch(() => undefined);
    },
  };
}
