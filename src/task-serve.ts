import { parentPort } from 'node:worker_threads';
import type { TaskAnswer, TaskMessage } from './task-thread.js';

/** What a task gives back, and the buffers in it that move to the main thread instead of being copied. */
export interface Answer {
  readonly value: unknown;
  readonly transfer: readonly ArrayBuffer[];
}

/** The worker side of a TaskThread: answers each task; other messages go to onMessage. */
export function serveTasks(handle: (task: never) => Promise<Answer>, onMessage?: (msg: never) => void): void {
  const port = parentPort!;
  let queue: Promise<unknown> = Promise.resolve();
  port.on('message', (msg: TaskMessage | { kind?: unknown }) => {
    if (msg.kind !== 'task') {
      onMessage?.(msg as never);
      return;
    }
    const { id, task } = msg as TaskMessage;
    // Tasks may arrive before the last is done (TaskThread posts ahead): one at a time, in order.
    queue = queue.then(() =>
      handle(task as never).then(
        (a) => port.postMessage({ kind: 'done', id, value: a.value } satisfies TaskAnswer, [...a.transfer]),
        (err: unknown) =>
          port.postMessage({
            kind: 'failed',
            id,
            name: err instanceof Error ? err.name : 'Error',
            message: err instanceof Error ? err.message : String(err),
          } satisfies TaskAnswer),
      ),
    );
  });
}
