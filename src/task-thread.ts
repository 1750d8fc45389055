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
 * serveTasks). Tasks that hand over no buffers are posted as soon as they are given, so the
 * thread goes from one to the next without waiting for this thread to see each answer (a busy
 * main thread answered late: the Parquet thread idled 10-25 ms between slices); a task that
 * hands over buffers waits until nothing is in flight. It keeps the process alive only while it
 * has work. When the thread dies (a decoder that traps takes its thread down), the task it was on
 * fails with the thread's error; the tasks posted after it and those still waiting go to onExit,
 * for the owner to hand to a new thread (none of them had handed its buffers over).
 */
export class TaskThread {
  private readonly queue: Queued[] = [];
  /** Posted to the thread and not answered yet, in order: the first is the one it works on. */
  private readonly posted: (Queued & { readonly id: number })[] = [];
  private nextId = 0;
  private readonly buffersAhead: boolean;
  private error: Error | undefined;
  exited = false;

  constructor(
    readonly worker: Worker,
    options: {
      readonly onMessage?: (msg: unknown) => void;
      readonly onExit?: (waiting: readonly Queued[], error: Error) => void;
      /** Post tasks that hand over buffers ahead too: the owner fails every waiting task when the thread dies. */
      readonly postBuffersAhead?: boolean;
    } = {},
  ) {
    this.buffersAhead = options.postBuffersAhead === true;
    worker.unref();
    worker.on('message', (msg: TaskAnswer | { kind?: unknown }) => {
      if (msg.kind === 'done' || msg.kind === 'failed') this.answer(msg as TaskAnswer);
      else options.onMessage?.(msg);
    });
    worker.on('error', (err) => (this.error ??= err));
    worker.on('exit', (code) => {
      this.exited = true;
      const err = this.error ?? new Error(`a worker thread stopped (exit code ${code})`);
      const [current, ...after] = this.posted.splice(0);
      current?.reject(err);
      const waiting = [...after, ...this.queue.splice(0)];
      if (options.onExit) options.onExit(waiting, err);
      else for (const q of waiting) q.reject(err);
    });
  }

  /** Tasks given and not answered. */
  get pending(): number {
    return this.posted.length + this.queue.length;
  }

  /** Working on a task, or with tasks waiting. */
  get busy(): boolean {
    return this.pending > 0;
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
    while (!this.exited) {
      const q = this.queue[0];
      // Buffers handed to a thread that dies before it starts the task would be lost with it.
      if (!q || (this.posted.length > 0 && q.transfer.length > 0 && !this.buffersAhead)) break;
      this.queue.shift();
      const id = this.nextId++;
      this.posted.push({ ...q, id });
      this.worker.ref();
      this.worker.postMessage({ kind: 'task', id, task: q.task } satisfies TaskMessage, [...q.transfer]);
    }
    if (this.posted.length === 0) this.worker.unref();
  }

  private answer(msg: TaskAnswer): void {
    const c = this.posted[0];
    if (c?.id !== msg.id) return;
    this.posted.shift();
    if (msg.kind === 'done') c.resolve(msg.value);
    else c.reject(Object.assign(new Error(msg.message), { name: msg.name }));
    this.next();
  }
}
