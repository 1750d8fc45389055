import { access, constants, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Table } from 'apache-arrow';
import type { ParquetCompression } from '../config/job.js';
import { isInside, realPath } from '../config/output-path.js';
import { RuntimeFailure, UsageError } from '../errors.js';
import { findRuns, readRunFile, RUN_FILE, writeRunFile } from '../ledger/file-ledger.js';
import { normalizeCheckpoint, shardText, type Checkpoint, type RunRecord } from '../ledger/record.js';
import { encodeParquet } from '../parquet-wasm.js';
import { chunkTable } from './arrow-chunk.js';
import { acquireLock } from './lock-file.js';
import { publishDir, recoverDir, siblings, SUCCESS_FILE } from './publish-dir.js';
import { RejectBuffer, rejectsTable } from './rejects.js';
import type { ScoredChunk, Sink, SinkLayout } from './sink.js';

export interface ParquetSinkOptions {
  readonly path: string;
  /** Everything the sink renames or deletes stays inside this directory. */
  readonly root: string;
  readonly rowsPerFile: number;
  readonly compression: ParquetCompression;
}

const PROGRESS = '_mlscale_progress.json';

interface SavedProgress {
  readonly checkpoint: Checkpoint;
  /** Part files complete at the checkpoint. */
  readonly parts: number;
}

/** Code-point order, as `partition < $2` compares under the C collation (ISO dates: date order). */
const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function readProgress(text: string): SavedProgress {
  const raw = JSON.parse(text) as { checkpoint?: unknown; parts?: unknown };
  if (typeof raw.parts !== 'number') throw new Error(`sink: progress file without a part count`);
  return { checkpoint: normalizeCheckpoint(raw.checkpoint), parts: raw.parts };
}

/**
 * Part files go to a hidden staging directory beside the partition; publish renames the whole
 * directory into place (the old partition is renamed aside first, then removed), so readers
 * see the old partition or the new one, never a mix or a half-written file.
 */
export class ParquetSink implements Sink {
  readonly description: string;
  private readonly target: string;
  private readonly staging: string;
  private pending: Table[] = [];
  private pendingRows = 0;
  private parts = 0;
  private written = 0;

  private release: (() => Promise<void>) | undefined;
  private readonly partitionDir: string;
  private readonly sharded: boolean;

  constructor(
    private readonly options: ParquetSinkOptions,
    private readonly layout: SinkLayout,
  ) {
    this.partitionDir = path.resolve(options.path);
    const { index, count } = layout.shard;
    this.sharded = count > 1;
    // Each shard of a sharded run publishes its own directory inside the partition.
    this.target = this.sharded ? path.join(this.partitionDir, `shard-${index}-of-${count}`) : this.partitionDir;
    this.description = this.target;
    this.staging = siblings(this.target).staging(layout.runId);
    // Every path this sink renames or deletes sits in the target's directory: it must be inside the root.
    const parent = path.dirname(this.target);
    if (!isInside(this.target, options.root) || (parent !== options.root && !isInside(parent, options.root))) {
      throw new UsageError(
        `sink: ${this.target} is not inside the sink's root ${options.root}; fix sink.parquet.path.`,
        {
          code: 'path_escape',
        },
      );
    }
  }

  private sibling(suffix: string): string {
    return path.join(path.dirname(this.target), `.${path.basename(this.target)}.${suffix}`);
  }

  async check(): Promise<void> {
    let dir = path.dirname(this.target);
    // The nearest existing ancestor must be a writable directory.
    for (;;) {
      try {
        const st = await stat(dir);
        if (!st.isDirectory())
          throw new UsageError(
            `sink: ${dir} is not a directory, so ${this.target} cannot be created; fix sink.parquet.path.`,
            { code: 'sink_path' },
          );
        await access(dir, constants.W_OK);
        break;
      } catch (err) {
        if (err instanceof UsageError) throw err;
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EACCES')
          throw new UsageError(`sink: ${dir} is not writable; fix sink.parquet.path or the directory's permissions.`, {
            code: 'sink_path',
          });
        const up = path.dirname(dir);
        if (up === dir) break;
        dir = up;
      }
    }
    const existing = await stat(this.target).catch(() => undefined);
    if (existing && !existing.isDirectory()) {
      throw new UsageError(
        `sink: ${this.target} exists and is not a directory; sink.parquet.path names a partition directory.`,
        { code: 'sink_path' },
      );
    }
  }

  async begin(_run: RunRecord, resume?: Checkpoint, signal?: AbortSignal): Promise<void> {
    await this.check();
    // A symbolic link inside the root must not lead the publish outside it.
    const [realTarget, realRoot] = await Promise.all([realPath(this.target), realPath(this.options.root)]);
    if (!isInside(realTarget, realRoot)) {
      throw new UsageError(
        `sink: ${this.target} leads through a symbolic link to ${realTarget}, outside the sink's root ${realRoot}; fix sink.parquet.path or the link.`,
        { code: 'path_escape' },
      );
    }
    await mkdir(path.dirname(this.target), { recursive: true });
    this.release = await acquireLock(this.sibling('lock'), this.layout.runId, `partition ${this.target}`, {
      wait: this.layout.wait === true,
      ...(this.layout.waitTimeoutMs !== undefined ? { timeoutMs: this.layout.waitTimeoutMs } : {}),
      ...(signal ? { signal } : {}),
      ...(this.layout.warn ? { onWarn: this.layout.warn } : {}),
    });
    // We hold the lock: first make the partition whole again if a publish died half way, then
    // clear what dead runs left beside it (except the staging directory being resumed).
    await recoverDir(this.target, resume ? this.staging : undefined);
    await mkdir(this.staging, { recursive: true });
    if (resume) {
      const saved = readProgress(await readFile(path.join(this.staging, PROGRESS), 'utf8'));
      this.parts = saved.parts;
      this.written = saved.checkpoint.counters.rowsWritten;
      // Parts written after the checkpoint are redone.
      for (const name of await readdir(this.staging)) {
        const m = /^part-(\d+)\.parquet$/.exec(name);
        if (m && Number(m[1]) >= saved.parts) await rm(path.join(this.staging, name));
      }
    }
  }

  async checkpoint(progress: Checkpoint): Promise<void> {
    await this.flush();
    const saved: SavedProgress = { checkpoint: progress, parts: this.parts };
    await writeFile(path.join(this.staging, `${PROGRESS}.tmp`), JSON.stringify(saved));
    await rename(path.join(this.staging, `${PROGRESS}.tmp`), path.join(this.staging, PROGRESS));
  }

  /** Ledger rows of published partitions beside this one (and their shard directories). */
  async baseline(ref: string): Promise<RunRecord | undefined> {
    const runs = await findRuns(path.dirname(this.partitionDir), 2);
    if (ref !== 'previous') return runs.find((r) => r.run_id === ref);
    // As the Postgres ledger does: the nearest earlier partition, the same shard first, the newest run.
    const mine = shardText(this.layout.shard);
    return runs
      .filter(
        (r) => r.job === this.layout.job && r.status === 'succeeded' && r.stats && r.partition < this.layout.partition,
      )
      .sort(
        (a, b) =>
          compareText(b.partition, a.partition) ||
          Number(b.shard === mine) - Number(a.shard === mine) ||
          compareText(b.finished_at ?? '', a.finished_at ?? ''),
      )[0];
  }

  /**
   * What this publish replaces: the target's run, and for a shard also what removeOtherLayouts
   * retires (an unsharded publish in the partition, shards of another count).
   */
  async published(): Promise<{ runIds: string[]; rows: number } | undefined> {
    const dirs = [this.target];
    if (this.sharded) {
      dirs.push(this.partitionDir);
      for (const name of await this.otherShardCounts()) dirs.push(path.join(this.partitionDir, name));
    }
    const runs = (await Promise.all(dirs.map(readRunFile))).filter((r) => r !== undefined);
    if (runs.length === 0) return undefined;
    return { runIds: runs.map((r) => r.run_id), rows: runs.reduce((n, r) => n + r.rows_written, 0) };
  }

  async findResumable(): Promise<Checkpoint | undefined> {
    const dir = path.dirname(this.target);
    const prefix = `${siblings(this.target).prefix}-`;
    let best: { at: number; checkpoint: Checkpoint } | undefined;
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (!name.startsWith(prefix)) continue;
      const file = path.join(dir, name, PROGRESS);
      const st = await stat(file).catch(() => undefined);
      if (!st || (best && st.mtimeMs <= best.at)) continue;
      best = { at: st.mtimeMs, checkpoint: readProgress(await readFile(file, 'utf8')).checkpoint };
    }
    return best?.checkpoint;
  }

  async write(chunk: ScoredChunk): Promise<void> {
    if (chunk.rows === 0) return;
    this.pending.push(chunkTable(chunk, this.layout));
    this.pendingRows += chunk.rows;
    if (this.pendingRows >= this.options.rowsPerFile) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const table: Table =
      this.pending.length === 1 ? this.pending[0]! : this.pending[0]!.concat(...this.pending.slice(1));
    this.pending = [];
    this.pendingRows = 0;
    let bytes: Uint8Array;
    try {
      bytes = await encodeParquet(table, this.options.compression);
    } catch (err) {
      throw new RuntimeFailure(`sink: cannot encode Parquet part ${this.parts} (${(err as Error).message}).`, {
        code: 'sink_encode',
        cause: err,
      });
    }
    const name = `part-${String(this.parts).padStart(5, '0')}.parquet`;
    await writeFile(path.join(this.staging, name), bytes);
    this.parts++;
    this.written += table.numRows;
  }

  async publish(run: RunRecord, rejects?: RejectBuffer, signal?: AbortSignal): Promise<void> {
    await this.flush();
    const target = this.layout.rejects;
    if (target && 'file' in target)
      await this.writeRejects(rejects ?? new RejectBuffer(this.layout.keyFields), target.file);
    await rm(path.join(this.staging, PROGRESS), { force: true });
    run.rows_written = this.written;
    await writeRunFile(this.staging, run);
    await writeFile(path.join(this.staging, SUCCESS_FILE), '');
    // The commit point: a run aborted before it publishes nothing.
    signal?.throwIfAborted();
    try {
      await publishDir(this.staging, this.target, this.layout.runId);
    } catch (err) {
      throw new RuntimeFailure(`sink: cannot publish ${this.target} (${(err as Error).message}).`, {
        code: 'sink_publish',
        cause: err,
      });
    }
    if (this.sharded) await this.removeOtherLayouts();
  }

  /** A sharded publish retires what runs with another shard count (or unsharded runs) left in the partition. */
  private async removeOtherLayouts(): Promise<void> {
    const names = await readdir(this.partitionDir);
    const unsharded = names.filter((n) => /^part-\d+\.parquet$/.test(n) || n === SUCCESS_FILE || n === RUN_FILE);
    for (const name of [...(await this.otherShardCounts()), ...unsharded])
      await rm(path.join(this.partitionDir, name), { recursive: true, force: true });
  }

  /** Shard directories in the partition written under another shard count than this run's. */
  private async otherShardCounts(): Promise<string[]> {
    const mine = path.basename(this.target).replace(/^shard-\d+-/, '');
    return (await readdir(this.partitionDir).catch(() => [] as string[])).filter((name) => {
      const other = /^shard-\d+-(of-\d+)$/.exec(name);
      return other !== null && other[1] !== mine;
    });
  }

  /** Rejected rows (keys, reason and run facts) as a Parquet file in the partition, published with it. */
  private async writeRejects(rejects: RejectBuffer, file: string): Promise<void> {
    const bytes = await encodeParquet(rejectsTable(rejects, this.layout, new Date()));
    await writeFile(path.join(this.staging, file), bytes);
  }

  async abort(): Promise<void> {
    this.pending = [];
    // A checkpointed run keeps its staging directory for --resume; the next run without --resume removes it.
    if (this.layout.checkpointing) return;
    await rm(this.staging, { recursive: true, force: true }).catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.release?.();
    this.release = undefined;
  }
}
