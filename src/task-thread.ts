import { Worker } from 'node:worker_threads';

/** Main thread to a task thread. */
export interface TaskMessage {
  readonly kind: 'task';
  readonly id: number;
  readonly task: unknown;
}

/** A task thread's answer to one task; anything else it sends goes to the owner's onMessage. */
export type TaskAnswer =
  | { readonly kind: 'done'; readonly id: number; readonly value: unknown }
  | { readonly kind: 'failed'; readonly id: number; readonly name: string; readonly message: string };

/** A task waiting for its thread. */
export interface Queued {
  readonly task: unknown;
  readonly transfer: readonly ArrayBuffer[];
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: Error) => void;
}

/**
 * One worker thread that works on one task at a time, in the order given (the worker side is
 * serveTasks). It keeps the process alive only while it has work. When the thread dies (a
 * decoder that traps takes its thread down), the task it was on fails with the thread's error;
 * the tasks still waiting go to onExit, for the owner to hand to a new thread.
 */
export class TaskThread {
  private readonly queue: Queued[] = [];
  private current:
    { readonly id: number; readonly resolve: (v: unknown) => void; readonly reject: (e: Error) => void } | undefined;
  private nextId = 0;
  private error: Error | undefined;
  exited = false;

  constructor(
    readonly worker: Worker,
    options: {
      readonly onMessage?: (msg: unknown) => void;
      readonly onExit?: (waiting: readonly Queued[], error: Error) => void;
    } = {},
  ) {
    worker.unref();
    worker.on('message', (msg: TaskAnswer | { kind?: unknown }) => {
      if (msg.kind === 'done' || msg.kind === 'failed') this.answer(msg as TaskAnswer);
      else options.onMessage?.(msg);
    });
    worker.on('error', (err) => (this.error ??= err));
    worker.on('exit', (code) => {
      this.exited = true;
      const err = this.error ?? new Error(`a worker thread stopped (exit code ${code})`);
      this.current?.reject(err);
      this.current = undefined;
      const waiting = this.queue.splice(0);
      if (options.onExit) options.onExit(waiting, err);
      else for (const q of waiting) q.reject(err);
    });
  }

  /** Working on a task, or with tasks waiting. */
  get busy(): boolean {
    return this.current !== undefined || this.queue.length > 0;
  }

  run(task: unknown, transfer: readonly ArrayBuffer[] = []): Promise<unknown> {
    if (this.exited) return Promise.reject(this.error ?? new Error('the worker thread has stopped'));
    return new Promise((resolve, reject) => {
      this.queue.push({ task, transfer, resolve, reject });
      this.next();
    });
  }

  /** Hands over tasks a thread that died had waiting (onExit). */
  resubmit(waiting: readonly Queued[]): void {
    this.queue.push(...waiting);
    this.next();
  }

  post(msg: unknown): void {
    this.worker.postMessage(msg);
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }

  private next(): void {
    if (this.current || this.exited) return;
    const q = this.queue.shift();
    if (!q) {
      this.worker.unref();
      return;
    }
    const id = this.nextId++;
    this.current = { id, resolve: q.resolve, reject: q.reject };
    this.worker.ref();
    this.worker.postMessage({ kind: 'task', id, task: q.task } satisfies TaskMessage, [...q.transfer]);
  }

  private answer(msg: TaskAnswer): void {
    const c = this.current;
    if (c?.id !== msg.id) return;
    this.current = undefined;
    if (msg.kind === 'done') c.resolve(msg.value);
    else c.reject(Object.assign(new Error(msg.message), { name: msg.name }));
    this.next();
  }
}
