import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { createSession, loadOrt } from '../model/session.js';
import { serveTasks } from '../task-serve.js';
import { threadCpuMs } from './thread-cpu.js';
import { transferList, type WireFeed } from '../tensors/wire.js';
import type { OutputData, WireOutput } from '../tensors/wire.js';
import { MlscaleError, UsageError, errorMessage } from '../errors.js';
import type {
  CheckResult,
  CheckTask,
  FromWorker,
  ScoreResult,
  ScoreTask,
  ToWorker,
  WorkerInit,
  WorkerModel,
} from './wire.js';

const init = workerData as WorkerInit;
const post = (msg: FromWorker) => parentPort!.postMessage(msg);
const nice = Number(process.env.MLSCALE_WORKER_NICE ?? 10);
// The first worker loads its sessions at full priority: the planner's check waits for them. The
// others yield from the start, so loading theirs does not slow planning and the first chunks.
const first = Atomics.add(init.started, 0, 1) === 0;
if (!first) lowerPriority(nice);

/**
 * The scoring threads yield the CPU to the main thread and the Parquet thread. Where inference is
 * cheap (an MLP), those two are the pipeline's bottleneck and a second scoring thread only took
 * cores from them: parallelism 2 ran slower than 1. At a lower priority, scoring uses what they
 * leave, and where inference is the bottleneck they leave most of it. Linux only (a thread's
 * niceness is its own there); elsewhere nothing changes.
 */
function lowerPriority(nice: number): void {
  if (process.platform !== 'linux' || !(nice > 0)) return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid)) setPriority(tid, Math.min(19, nice));
  } catch {
    // No /proc, or not allowed: scoring runs at the process's priority.
  }
}

/** Per model: what onnxruntime warned of while creating its session (a provider it fell back from). */
let warnings: string[][] = [];
/** One session per model, created as soon as the models are known and kept for the worker's life. */
let sessions: Promise<InferenceSession>[] = [];

function startSessions(models: readonly WorkerModel[]): void {
  warnings = models.map(() => []);
  sessions = models.map((m, i) =>
    createSession(m.modelBytes, m.modelFile, { providers: m.providers, intraOpThreads: m.intraOpThreads }, (w) =>
      warnings[i]!.push(w),
    ),
  );
  // A load failure surfaces on the first task; until then it must not count as unhandled.
  for (const s of sessions) s.catch(() => undefined);
  // Lowered once the sessions are loaded: the planner waits for that load (it checks the model).
  void Promise.allSettled(sessions).then((loaded) => {
    if (first) lowerPriority(nice);
    const failed = loaded.find((l) => l.status === 'rejected');
    post({ kind: 'settled', withModels: true, ...(failed ? { loadError: errorMessage(failed.reason) } : {}) });
  });
}

if (init.models) startSessions(init.models);
else {
  // Started ahead of its job: onnxruntime loads while the main thread reads the job and the models.
  const settled = () => post({ kind: 'settled', withModels: false });
  loadOrt().then(settled, settled);
}

serveTasks(
  async (task: ScoreTask | CheckTask) => {
    if ('kind' in task) return { value: await check(task), transfer: [] };
    const value = await score(task);
    return { value, transfer: value.spent };
  },
  (msg: ToWorker) => {
    if (msg.kind === 'models') startSessions(msg.models);
  },
);

function sliceFeed(feed: WireFeed, row: number): WireFeed {
  const width = feed.dims.length === 2 ? feed.dims[1]! : 1;
  const data = feed.data.slice(row * width, (row + 1) * width) as WireFeed['data'];
  return { ...feed, dims: feed.dims.length === 2 ? [1, width] : [1], data };
}

async function runOnce(
  s: InferenceSession,
  feeds: readonly WireFeed[],
  fetch: readonly string[],
): Promise<WireOutput[]> {
  const ort = await loadOrt();
  const inputs: Record<string, Tensor> = {};
  for (const f of feeds) inputs[f.input] = new ort.Tensor(f.type as 'float32', f.data as Float32Array, f.dims);
  const result = await s.run(inputs, [...fetch]);
  return fetch.map((name) => {
    const t = result[name]!;
    return { name, type: t.type, dims: [...t.dims], data: t.data as OutputData };
  });
}

function concat(parts: WireOutput[][]): WireOutput[] {
  return parts[0]!.map((first, o) => {
    const pieces = parts.map((p) => p[o]!);
    const total = pieces.reduce((n, p) => n + p.data.length, 0);
    let data: OutputData;
    if (Array.isArray(first.data)) data = pieces.flatMap((p) => p.data as string[]);
    else {
      const Ctor = first.data.constructor as new (n: number) => Exclude<OutputData, string[]>;
      const out = new Ctor(total);
      let at = 0;
      for (const p of pieces) {
        (out as Float32Array).set(p.data as Float32Array, at);
        at += p.data.length;
      }
      data = out;
    }
    return { ...first, dims: [parts.length, ...first.dims.slice(1)], data };
  });
}

/**
 * The planner's check of a model, made here so that the main thread never loads onnxruntime: the
 * session this worker scores with is the one checked.
 */
async function check(task: CheckTask): Promise<CheckResult> {
  let s: InferenceSession;
  try {
    s = await sessions[task.model]!;
  } catch (err) {
    const usage = err instanceof UsageError;
    const code = err instanceof MlscaleError ? err.code : 'model_load';
    return { warnings: warnings[task.model]!, loadError: { usage, code, message: errorMessage(err) } };
  }
  if (!task.probe) return { warnings: warnings[task.model]! };
  try {
    await runOnce(s, task.probe.feeds, task.probe.fetch);
    return { warnings: warnings[task.model]! };
  } catch (err) {
    return { warnings: warnings[task.model]!, probeError: errorMessage(err) };
  }
}

/** Scores one chunk, and says how long onnxruntime took, in wall time and in this thread's CPU time. */
async function score(task: ScoreTask): Promise<ScoreResult> {
  const s = await sessions[task.model]!;
  const cpu = threadCpuMs();
  const t = performance.now();
  const outputs = await scoreWith(s, task);
  const ms = performance.now() - t;
  const cpuAfter = cpu === undefined ? undefined : threadCpuMs();
  return {
    outputs,
    ms,
    ...(cpu !== undefined && cpuAfter !== undefined ? { cpuMs: cpuAfter - cpu } : {}),
    spent: transferList(task.feeds),
  };
}

/** A model with a fixed batch of 1 is run row by row. */
async function scoreWith(s: InferenceSession, task: ScoreTask): Promise<WireOutput[]> {
  if (!task.rowByRow) return runOnce(s, task.feeds, task.fetch);
  const rows = task.feeds[0]!.dims[0]!;
  const parts: WireOutput[][] = [];
  for (let r = 0; r < rows; r++)
    parts.push(
      await runOnce(
        s,
        task.feeds.map((f) => sliceFeed(f, r)),
        task.fetch,
      ),
    );
  return rows === 0 ? [] : concat(parts);
}
