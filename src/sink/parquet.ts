import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ParquetCompression } from '../config/job.js';
import { isInside } from '../config/output-path.js';
import { LockedError, RuntimeFailure, UsageError } from '../errors.js';
import { chooseBaseline } from '../ledger/baseline.js';
import {
  createRunRecord,
  findRuns,
  LEDGER_DIR,
  readPartitionRuns,
  readRunRecord,
  recordTemporaries,
  replaceRunRecord,
  RUN_FILE,
  writeRunFile,
} from '../ledger/file-ledger.js';
import { normalizeCheckpoint, shardText, type Checkpoint, type RunRecord } from '../ledger/record.js';
import { tableToIPC } from 'apache-arrow';
import { ParquetEncoder } from './parquet-encoder.js';
import { benchSerial } from '../run/bench-serial.js';
import { PartBuffer } from './part-buffer.js';
import { acquireLock, alive, liveHolder } from './lock-file.js';
import { checkLinks, checkPartitionPath } from './parquet-paths.js';
import { keeps, partFile, runFile } from './partition-files.js';
import { needsRecovery, recoverDir, removeStaging, siblings } from './publish-dir.js';
import { publishShard } from './publish-shard.js';
import { freeBuffers } from '../free-buffers.js';
import { RejectBuffer, rejectsTable } from './rejects.js';
import type { ScoredChunk, Sink, SinkLayout } from './sink.js';

export interface ParquetSinkOptions {
  readonly path: string;
  /** Everything the sink renames or deletes stays inside this directory (and the rejects tree). */
  readonly root: string;
  readonly rowsPerFile: number;
  readonly compression: ParquetCompression;
}

const PROGRESS = '_mlscale_progress.json';
/** The staged rejects file; like staged parts it has no .parquet suffix, so no glob reads it early. */
const STAGED_REJECTS = 'rejects';
/** The n-th staged part: named without .parquet, so DuckDB's globs never read a run's unpublished rows. */
const stagedPart = (n: number) => `part-${String(n).padStart(5, '0')}`;

interface SavedProgress {
  readonly checkpoint: Checkpoint;
  /** Part files complete at the checkpoint. */
  readonly parts: number;
}

function readProgress(text: string): SavedProgress {
  const raw = JSON.parse(text) as { checkpoint?: unknown; parts?: unknown };
  if (typeof raw.parts !== 'number') throw new Error(`sink: progress file without a part count`);
  return { checkpoint: normalizeCheckpoint(raw.checkpoint), parts: raw.parts };
}

/**
 * Part files go to a hidden staging directory beside the partition. Publishing builds a new
 * partition directory (the other shards' current files and this run's) and swaps it in whole,
 * so readers see the old partition or the new one, never a mix or a half-written file. Every
 * run is recorded in the root's ledger (`_mlscale/runs/`) from its start.
 */
export class ParquetSink implements Sink {
  readonly description: string;
  private readonly staging: string;
  private parts = 0;
  private written = 0;

  private release: (() => Promise<void>) | undefined;
  /** This run's ledger record exists (created, or reopened to resume): only then may abort rewrite it. */
  private recorded = false;
  private readonly partitionDir: string;
  /** The partition's directory in the rejects tree, when the job writes rejects. */
  private readonly rejectsDir: string | undefined;

  private readonly buffer: PartBuffer;
  private readonly encoder = new ParquetEncoder();
  /** Parts handed to the encoder, in order, not yet known to be on disk. */
  private encoding: Promise<void>[] = [];

  constructor(
    private readonly options: ParquetSinkOptions,
    private readonly layout: SinkLayout,
  ) {
    this.partitionDir = path.resolve(options.path);
    this.buffer = new PartBuffer(options.rowsPerFile, layout);
    const shard = layout.shard;
    this.description = shard.count > 1 ? `${this.partitionDir} (shard ${shardText(shard)})` : this.partitionDir;
    this.staging = siblings(this.partitionDir).staging(shard, layout.runId);
    const rejects = layout.rejects;
    this.rejectsDir =
      rejects && 'dir' in rejects ? path.join(rejects.dir, path.relative(options.root, this.partitionDir)) : undefined;
    // Every path this sink renames or deletes sits in the partition's directory: it must be inside the root.
    const parent = path.dirname(this.partitionDir);
    if (!isInside(this.partitionDir, options.root) || (parent !== options.root && !isInside(parent, options.root))) {
      throw new UsageError(
        `sink: ${this.partitionDir} is not inside the sink's root ${options.root}; fix sink.parquet.path.`,
        { code: 'path_escape' },
      );
    }
    // The names mlscale gives beside the partition carry its name, the shard and the run id: they
    // must fit a file name too (load-job keeps partition names short enough for any usual shard).
    const beside = [this.staging, siblings(this.partitionDir).aside(layout.runId)].map((p) => path.basename(p));
    const longest = beside.reduce((a, b) => (Buffer.byteLength(b) > Buffer.byteLength(a) ? b : a));
    if (Buffer.byteLength(longest) > 255)
      throw new UsageError(
        `sink: the staging directory beside ${this.partitionDir} would be named with ${Buffer.byteLength(longest)} bytes (${longest}), over the 255 a file name may have; shorten the partition's name, the --run-id or the shard count.`,
        { code: 'sink_path' },
      );
  }

  async check(): Promise<void> {
    await checkPartitionPath(this.partitionDir);
    await this.checkOwner();
  }

  /**
   * A partition holds one job's output: a publish replaces what other shard counts and earlier
   * runs of its job wrote there, so another job's files would silently go.
   */
  private async checkOwner(): Promise<void> {
    const other = (await readPartitionRuns(this.partitionDir)).find((r) => r.run.job !== this.layout.job);
    if (other)
      throw new UsageError(
        `sink: partition ${this.partitionDir} holds job ${other.run.job}'s output; two jobs cannot share a Parquet path: give job ${this.layout.job} its own sink.parquet.path.`,
        { code: 'sink_shared' },
      );
  }

  async begin(run: RunRecord, resume?: Checkpoint, signal?: AbortSignal): Promise<void> {
    this.encoder.claim();
    await this.check();
    await checkLinks(this.partitionDir, this.options.root, 'sink.parquet.path');
    const rejects = this.layout.rejects;
    if (this.rejectsDir && rejects && 'dir' in rejects) await checkLinks(this.rejectsDir, rejects.dir, 'rejects.dir');
    const shard = this.layout.shard;
    await mkdir(path.dirname(this.partitionDir), { recursive: true });
    await this.lock(run, signal);
    await this.record(run, resume !== undefined);
    for (const t of await recordTemporaries(this.options.root)) if (!alive(t.pid)) await rm(t.file, { force: true });
    // Make the partition whole again if a publish died half way (only then is the publish lock
    // worth taking), then clear what dead runs of this shard left beside it (except the staging
    // directory being resumed).
    const dirs = [this.partitionDir, ...(this.rejectsDir ? [this.rejectsDir] : [])];
    if ((await Promise.all(dirs.map(needsRecovery))).some(Boolean))
      await this.withPublishLock(signal, () => this.recover());
    await removeStaging(this.partitionDir, shard, resume ? this.staging : undefined);
    await mkdir(this.staging, { recursive: true });
    if (resume) {
      const saved = readProgress(await readFile(path.join(this.staging, PROGRESS), 'utf8'));
      this.parts = saved.parts;
      this.written = saved.checkpoint.counters.rowsWritten;
      for (const name of await readdir(this.staging)) {
        // Staged by this version (part-00000) or by the one before it (part-00000.parquet).
        const m = /^part-(\d+)(\.parquet)?$/.exec(name);
        if (!m) continue;
        const n = Number(m[1]);
        // Parts written after the checkpoint are redone.
        if (n >= saved.parts) await rm(path.join(this.staging, name));
        else if (m[2]) await rename(path.join(this.staging, name), path.join(this.staging, stagedPart(n)));
      }
    }
  }

  /**
   * Takes this shard's run lock, and keeps it only while no live run of the partition under
   * another shard count holds its own: such runs replace each other's files, so they may not
   * overlap. Without --wait the run exits 4; with it, it lets go of its lock (two waiting runs
   * never hold each other up) and tries again until the wait's timeout. Two runs of different
   * counts that start at the same moment may both exit 4; they never both go on.
   */
  private async lock(run: RunRecord, signal: AbortSignal | undefined): Promise<void> {
    const { shard, wait, waitTimeoutMs } = this.layout;
    const deadline = waitTimeoutMs === undefined ? Infinity : Date.now() + waitTimeoutMs;
    const what = `partition ${this.partitionDir}${shard.count > 1 ? ` (shard ${shardText(shard)})` : ''}`;
    let waiting = false;
    for (;;) {
      this.release = await acquireLock(siblings(this.partitionDir).runLock(shard), this.layout.runId, what, {
        wait: wait === true,
        ...(waitTimeoutMs !== undefined ? { timeoutMs: waitTimeoutMs, deadline } : {}),
        ...(signal ? { signal } : {}),
        ...(this.layout.warn ? { onWarn: this.layout.warn } : {}),
        beforeTakeOver: async (dead) => {
          if (dead !== undefined && dead !== run.run_id) await this.settleDeadRun(dead, signal);
        },
      });
      const other = await this.otherCountRun();
      if (!other) return;
      await this.release();
      this.release = undefined;
      const held = `${what} is held by ${other}`;
      if (wait !== true || Date.now() >= deadline) {
        const waited = wait === true ? ` after waiting ${Math.round((waitTimeoutMs ?? 0) / 1000)} s` : '';
        throw new LockedError(
          `sink: ${held}${waited}; runs of one partition under different shard counts replace each other's files, so they cannot overlap: wait for it to finish, or pass --wait${wait === true ? ' with a longer timeout' : ''}.`,
        );
      }
      if (!waiting) this.layout.warn?.(`lock: ${held}; waiting (--wait).`);
      waiting = true;
      // Jittered, so two runs of different counts waiting on each other do not retry in step.
      const pause = Math.min(250 + Math.random() * 500, Math.max(1, deadline - Date.now()));
      await sleep(pause, undefined, signal ? { signal } : {}).catch(() => undefined);
      signal?.throwIfAborted();
    }
  }

  /** A live run of this partition under another shard count (or unsharded), in words; undefined if none. */
  private async otherCountRun(): Promise<string | undefined> {
    const dir = path.dirname(this.partitionDir);
    const prefix = `.${path.basename(this.partitionDir)}.`;
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      // Run locks: .NAME.lock (unsharded) and .NAME.sIofN.lock; not the publish lock or temporaries.
      const m = name.startsWith(prefix) ? /^(?:s(\d+)of(\d+)\.)?lock$/.exec(name.slice(prefix.length)) : null;
      if (!m) continue;
      const count = m[2] === undefined ? 1 : Number(m[2]);
      if (count === this.layout.shard.count) continue;
      const who = await liveHolder(path.join(dir, name));
      if (who) return `${who}, scoring it ${count === 1 ? 'unsharded' : `as shard ${m[1]}/${m[2]}`}`;
    }
    return undefined;
  }

  /** Records the run as running in the root's ledger; a resumed run reopens its own record. */
  private async record(run: RunRecord, resuming: boolean): Promise<void> {
    // The lock it holds goes into the record: `runs` tells a live run from a dead one by it.
    const lock = path.relative(this.options.root, siblings(this.partitionDir).runLock(this.layout.shard));
    if (resuming) await replaceRunRecord(this.options.root, run, lock);
    else if (!(await createRunRecord(this.options.root, run, lock)))
      throw new UsageError(
        `--run-id ${run.run_id}: that run id is already in the ledger ${path.join(this.options.root, LEDGER_DIR, 'runs')}; give this run a new one (or leave --run-id out).`,
        { code: 'run_id_taken' },
      );
    this.recorded = true;
  }

  /**
   * A run whose lock we are taking over died: its record says what became of it. Published (its
   * run file is live in the partition once any half-done swap is recovered) it succeeded, whatever
   * its own record says; otherwise it failed.
   */
  private async settleDeadRun(runId: string, signal: AbortSignal | undefined): Promise<void> {
    const root = this.options.root;
    const record = await readRunRecord(root, runId);
    if (!record || record.status !== 'running') return;
    const live = await this.withPublishLock(signal, async () => {
      await this.recover();
      return (await readPartitionRuns(this.partitionDir)).find((r) => r.run.run_id === runId);
    });
    await replaceRunRecord(
      root,
      live?.run ?? {
        ...record,
        status: 'failed',
        finished_at: new Date().toISOString(),
        error: 'abandoned: the process ended without finishing the run',
      },
    );
  }

  /** Runs `work` holding the partition's publish lock: held only while a directory is swapped or recovered. */
  private async withPublishLock<T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
    const release = await acquireLock(
      siblings(this.partitionDir).publishLock,
      this.layout.runId,
      `publishing into ${this.partitionDir}`,
      {
        wait: true,
        ...(signal ? { signal } : {}),
        ...(this.layout.warn ? { onWarn: this.layout.warn } : {}),
        // Shards finishing together take turns for a moment: not worth a warning.
        onWait: () => undefined,
      },
    );
    try {
      return await work();
    } finally {
      await release();
    }
  }

  private async recover(): Promise<void> {
    await recoverDir(this.partitionDir);
    if (this.rejectsDir) await recoverDir(this.rejectsDir);
  }

  async checkpoint(progress: Checkpoint): Promise<void> {
    await this.flush();
    await this.settle();
    const saved: SavedProgress = { checkpoint: progress, parts: this.parts };
    await writeFile(path.join(this.staging, `${PROGRESS}.tmp`), JSON.stringify(saved));
    await rename(path.join(this.staging, `${PROGRESS}.tmp`), path.join(this.staging, PROGRESS));
  }

  /** The baseline among the ledger rows of published partitions beside this one (and their shard directories): see baseline.ts. */
  async baseline(ref: string): Promise<RunRecord | undefined> {
    return chooseBaseline(await findRuns(path.dirname(this.partitionDir), 2), this.layout, ref);
  }

  /** What this publish replaces: the runs whose files the partition shows now and this shard's publish removes. */
  async published(): Promise<{ runIds: string[]; rows: number } | undefined> {
    const runs = (await readPartitionRuns(this.partitionDir))
      .filter((r) => !keeps(this.layout.shard, r.shard))
      .map((r) => r.run);
    if (runs.length === 0) return undefined;
    return { runIds: runs.map((r) => r.run_id), rows: runs.reduce((n, r) => n + r.rows_written, 0) };
  }

  async findResumable(): Promise<Checkpoint | undefined> {
    const prefix = siblings(this.partitionDir).stagingPrefix(this.layout.shard);
    const dir = path.dirname(prefix);
    let best: { at: number; checkpoint: Checkpoint } | undefined;
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (!path.join(dir, name).startsWith(prefix)) continue;
      const file = path.join(dir, name, PROGRESS);
      const st = await stat(file).catch(() => undefined);
      if (!st || (best && st.mtimeMs <= best.at)) continue;
      best = { at: st.mtimeMs, checkpoint: readProgress(await readFile(file, 'utf8')).checkpoint };
    }
    return best?.checkpoint;
  }

  /** Buffers a chunk's rows; a part file is written whenever rows_per_file rows are buffered (a chunk may end two files). */
  async write(chunk: ScoredChunk): Promise<void> {
    for (const part of this.buffer.add(chunk)) await this.flush(part);
  }

  /**
   * Hands a part to the encoder thread. Scoring goes on while it encodes; at most one part waits
   * behind the one being encoded, so memory stays bounded.
   */
  private async flush(table = this.buffer.take()): Promise<void> {
    if (!table) return;
    const part = this.parts++;
    const done = this.encoder
      .encodePart(table, this.layout, this.options.compression, part)
      .then(async (bytes) => {
        await writeFile(path.join(this.staging, stagedPart(part)), bytes);
        // The part's bytes came from the Parquet thread whole and are on disk now.
        freeBuffers([bytes.buffer]);
      })
      .then(() => {
        this.written += table.numRows;
      });
    // Awaited below or by settle(); until then a failure must not count as unhandled.
    done.catch(() => undefined);
    this.encoding.push(done);
    // One part encodes while the next fills; the bench's serial run waits for each, so that
    // writing costs encoding.
    while (this.encoding.length > (benchSerial() ? 0 : 1)) await this.encoding.shift();
  }

  /** Every part handed to the encoder is on disk (or its failure thrown). */
  private async settle(): Promise<void> {
    while (this.encoding.length > 0) await this.encoding.shift();
  }

  async publish(run: RunRecord, rejects?: RejectBuffer, signal?: AbortSignal): Promise<void> {
    await this.flush();
    await this.settle();
    if (this.rejectsDir) await this.writeRejects(rejects ?? new RejectBuffer(this.layout.keyFields));
    await rm(path.join(this.staging, PROGRESS), { force: true });
    run.rows_written = this.written;
    await writeRunFile(this.staging, run);
    const shard = this.layout.shard;
    const files = new Map<string, string>();
    for (let n = 0; n < this.parts; n++) files.set(partFile(shard, n), path.join(this.staging, stagedPart(n)));
    files.set(runFile(shard), path.join(this.staging, RUN_FILE));
    // The commit point is publishShard's first rename: a run aborted before it publishes nothing.
    signal?.throwIfAborted();
    await this.withPublishLock(signal, async () => {
      try {
        await this.recover();
        // Another job may have published here since this run began.
        await this.checkOwner();
        await publishShard(this.partitionDir, shard, this.layout.runId, files, signal);
      } catch (err) {
        if (signal?.aborted || err instanceof UsageError) throw err;
        throw new RuntimeFailure(`sink: cannot publish ${this.partitionDir} (${(err as Error).message}).`, {
          code: 'sink_publish',
          cause: err,
        });
      }
      // Published: from here on a failure is a warning, never a failed run.
      if (this.rejectsDir) {
        const staged = new Map([[partFile(shard, 0), path.join(this.staging, STAGED_REJECTS)]]);
        await publishShard(this.rejectsDir, shard, this.layout.runId, staged).catch((err: Error) =>
          this.layout.warn?.(
            `rejects: the predictions were published but the rejected rows could not be (${err.message}); ${this.rejectsDir} still holds the earlier ones.`,
          ),
        );
      }
    });
    await replaceRunRecord(this.options.root, run).catch((err: Error) =>
      this.layout.warn?.(
        `ledger: run ${run.run_id} was published but its ledger record could not be updated (${err.message}).`,
      ),
    );
    await rm(this.staging, { recursive: true, force: true }).catch(() => undefined);
  }

  /** Rejected rows (keys, reason and run facts) as a Parquet file, published into the rejects tree. */
  private async writeRejects(rejects: RejectBuffer): Promise<void> {
    // On the Parquet thread, as the parts: the main thread does not load parquet-wasm for it.
    const ipc = tableToIPC(rejectsTable(rejects, this.layout, new Date()), 'stream');
    const bytes = await this.encoder.encode({ ipc, codec: 'uncompressed', plainColumns: [], constants: [] });
    await writeFile(path.join(this.staging, STAGED_REJECTS), bytes);
  }

  async abort(run: RunRecord): Promise<void> {
    this.buffer.clear();
    // No part may land in the staging directory after it is removed.
    await Promise.allSettled(this.encoding);
    this.encoding = [];
    // Another run's record with this id is not ours to rewrite.
    if (this.recorded) await replaceRunRecord(this.options.root, run).catch(() => undefined);
    // A checkpointed run keeps its staging directory for --resume; the next run without --resume removes it.
    if (this.layout.checkpointing) return;
    await rm(this.staging, { recursive: true, force: true }).catch(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.encoding);
    await this.encoder.close();
    await this.release?.();
    this.release = undefined;
  }
}
