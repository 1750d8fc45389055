import { LockedError, RuntimeFailure, UsageError } from '../errors.js';
import { chooseBaseline } from '../ledger/baseline.js';
import { shardText, type Checkpoint, type RunRecord } from '../ledger/record.js';
import { S3Client } from '../s3/client.js';
import type { S3Options } from '../s3/credentials.js';
import { acquireObjectLock } from '../s3/object-lock.js';
import {
  createObjectRecord,
  findObjectRuns,
  joinKey,
  readObjectRecord,
  replaceObjectRecord,
  serializeRecord,
} from '../s3/object-ledger.js';
import { parseS3 } from '../s3/s3-url.js';
import { ParquetEncoder } from './parquet-encoder.js';
import { PartBuffer } from './part-buffer.js';
import { isComplete, keeps, runFile, shardTag, SUCCESS_FILE } from './partition-files.js';
import { classifyObject, objectPartName } from './object-partition-files.js';
import type { ParquetSinkOptions } from './parquet.js';
import type { ScoredChunk, Sink, SinkLayout } from './sink.js';
import type { Shard } from '../config/job.js';

/** Multipart part size: S3's minimum is 5 MiB for every part but the last. */
const PART_BYTES = 8 * 1024 * 1024;

/** One data file: a multipart upload to its final key, completed only at publish. */
interface Upload {
  readonly name: string;
  readonly uploadId: string;
  readonly etags: string[];
}

/**
 * The Parquet sink on an S3-compatible store, which has no rename. Data files are multipart
 * uploads to their final keys (invisible to listings until completed); publish completes them,
 * then writes the shard's run file, which lists them (the manifest, and the commit point), then
 * `_SUCCESS` when every shard is in, and only then deletes what the publish replaced. A crash
 * before the run file leaves the previous manifest in force; after it, the next run of the
 * partition deletes what is left. README "Object storage" says what a lister sees meanwhile.
 */
export class ObjectParquetSink implements Sink {
  readonly description: string;
  private client: S3Client | undefined;
  private readonly bucket: string;
  /** The partition's prefix, with its trailing slash. */
  private readonly prefix: string;
  private readonly rootKey: string;
  private readonly lockKey: string;
  private readonly buffer: PartBuffer;
  private readonly encoder = new ParquetEncoder();
  private uploads: Upload[] = [];
  /** Files completed by a publish that failed before its run file: visible, unlisted, deleted by abort. */
  private completed: string[] = [];
  private written = 0;
  private release: (() => Promise<void>) | undefined;
  private recorded = false;

  constructor(
    private readonly options: ParquetSinkOptions & { readonly s3?: S3Options },
    private readonly layout: SinkLayout,
  ) {
    this.buffer = new PartBuffer(options.rowsPerFile, layout);
    const part = parseS3(options.path, 'sink.parquet.path');
    const root = parseS3(options.root, 'sink.parquet.path');
    this.bucket = part.bucket;
    this.prefix = `${part.key.replace(/\/$/, '')}/`;
    this.rootKey = root.key.replace(/\/$/, '');
    const rel = part.key.slice(this.rootKey.length).replace(/^\//, '');
    const tag = shardTag(layout.shard);
    this.lockKey = joinKey(this.rootKey, '_mlscale', 'locks', rel, tag ? `${tag}.lock` : 'run.lock');
    this.description = layout.shard.count > 1 ? `${options.path} (shard ${shardText(layout.shard)})` : options.path;
  }

  private async store(): Promise<S3Client> {
    this.client ??= await S3Client.create(this.options.s3 ?? {});
    return this.client;
  }

  /** Runs a request, turning a store's failure into mlscale's sentence about `what`. */
  private async s3<T>(what: string, f: (c: S3Client) => Promise<T>): Promise<T> {
    const c = await this.store();
    try {
      return await f(c);
    } catch (err) {
      if (err instanceof LockedError || err instanceof UsageError || err instanceof RuntimeFailure) throw err;
      if ((err as Error).name === 'AbortError') throw err;
      throw c.explain(err, what);
    }
  }

  /** The partition's objects (names below its prefix) and its run files' records. */
  private async partition(): Promise<{
    names: string[];
    runs: { shard: Shard; run: RunRecord; files: readonly string[] }[];
  }> {
    return this.s3(this.options.path, async (c) => {
      const names = (await c.list(this.bucket, this.prefix))
        .map((o) => o.key.slice(this.prefix.length))
        .filter((n) => !n.includes('/'));
      const runs = [];
      for (const name of names) {
        const kind = classifyObject(name);
        if (kind.kind !== 'run') continue;
        const found = await readObjectRecord(c, this.bucket, this.prefix + name);
        if (found) runs.push({ shard: kind.shard, run: found.run, files: found.files ?? [] });
      }
      return { names, runs };
    });
  }

  async check(): Promise<void> {
    const other = (await this.partition()).runs.find((r) => r.run.job !== this.layout.job);
    if (other)
      throw new UsageError(
        `sink: partition ${this.options.path} holds job ${other.run.job}'s output; two jobs cannot share a Parquet path: give job ${this.layout.job} its own sink.parquet.path.`,
        { code: 'sink_shared' },
      );
  }

  async begin(run: RunRecord, _resume?: Checkpoint, signal?: AbortSignal): Promise<void> {
    this.encoder.claim();
    await this.check();
    const shard = this.layout.shard;
    const what = `partition ${this.options.path}${shard.count > 1 ? ` (shard ${shardText(shard)})` : ''}`;
    this.release = await this.s3(this.options.path, (c) =>
      acquireObjectLock(c, this.bucket, this.lockKey, this.layout.runId, what, {
        wait: this.layout.wait === true,
        ...(this.layout.waitTimeoutMs !== undefined ? { timeoutMs: this.layout.waitTimeoutMs } : {}),
        ...(signal ? { signal } : {}),
        ...(this.layout.warn ? { onWarn: this.layout.warn } : {}),
        beforeTakeOver: (dead) => this.settleDeadRun(dead),
      }),
    );
    const created = await this.s3(this.options.root, (c) =>
      createObjectRecord(c, this.bucket, this.rootKey, run, this.lockKey),
    );
    if (!created)
      throw new UsageError(
        `--run-id ${run.run_id}: that run id is already in the ledger s3://${this.bucket}/${joinKey(this.rootKey, '_mlscale', 'runs')}; give this run a new one (or leave --run-id out).`,
        { code: 'run_id_taken' },
      );
    this.recorded = true;
    await this.removeUnpublished();
  }

  /**
   * Deletes this shard's data files that no run file lists: what a run killed between completing
   * its uploads and writing its run file left, or the files a publish replaced but died before
   * deleting. The caller holds the shard's lock, so no live run of it owns any of them.
   */
  private async removeUnpublished(): Promise<void> {
    const { names, runs } = await this.partition();
    const listed = new Set(runs.flatMap((r) => r.files));
    const mine = (s: Shard) => s.index === this.layout.shard.index && s.count === this.layout.shard.count;
    await this.s3(this.options.path, async (c) => {
      for (const name of names) {
        const kind = classifyObject(name);
        if (kind.kind === 'part' && mine(kind.shard) && !listed.has(name))
          await c.delete(this.bucket, this.prefix + name);
      }
    });
  }

  /** A run whose lock we take over died: published (its run file is live) it succeeded, else it failed. */
  private async settleDeadRun(runId: string | undefined): Promise<void> {
    if (!runId) return;
    const c = await this.store();
    const record = await readObjectRecord(c, this.bucket, joinKey(this.rootKey, '_mlscale', 'runs', `${runId}.json`));
    if (!record || record.run.status !== 'running') return;
    const live = (await this.partition()).runs.find((r) => r.run.run_id === runId);
    await replaceObjectRecord(
      c,
      this.bucket,
      this.rootKey,
      live?.run ?? {
        ...record.run,
        status: 'failed',
        finished_at: new Date().toISOString(),
        error: 'abandoned: the process ended without finishing the run',
      },
    );
  }

  async write(chunk: ScoredChunk): Promise<void> {
    for (const part of this.buffer.add(chunk)) await this.flush(part);
  }

  /** Encodes a part (on the Parquet thread, as the local sink does) and uploads it, uncompleted (see the class comment). */
  private async flush(table = this.buffer.take()): Promise<void> {
    if (!table) return;
    const bytes = await this.encoder.encodePart(table, this.layout, this.options.compression, this.uploads.length);
    const name = objectPartName(this.layout.shard, this.layout.runId, this.uploads.length);
    const key = this.prefix + name;
    await this.s3(`s3://${this.bucket}/${key}`, async (c) => {
      const uploadId = await c.createMultipart(this.bucket, key);
      const upload: Upload = { name, uploadId, etags: [] };
      this.uploads.push(upload);
      for (let at = 0, n = 1; at < bytes.length || n === 1; at += PART_BYTES, n++)
        upload.etags.push(await c.uploadPart(this.bucket, key, uploadId, n, bytes.subarray(at, at + PART_BYTES)));
    });
    this.written += table.numRows;
  }

  async checkpoint(): Promise<void> {
    throw new UsageError('checkpoint_rows: a run into an s3:// sink cannot be resumed yet.', {
      code: 's3_unsupported',
    });
  }

  async findResumable(): Promise<Checkpoint | undefined> {
    return undefined;
  }

  async published(): Promise<{ runIds: string[]; rows: number } | undefined> {
    const runs = (await this.partition()).runs.filter((r) => !keeps(this.layout.shard, r.shard)).map((r) => r.run);
    if (runs.length === 0) return undefined;
    return { runIds: runs.map((r) => r.run_id), rows: runs.reduce((n, r) => n + r.rows_written, 0) };
  }

  async baseline(ref: string): Promise<RunRecord | undefined> {
    const parent = this.prefix.replace(/[^/]*\/$/, '');
    const runs = await this.s3(this.options.root, (c) => findObjectRuns(c, this.bucket, parent, 1));
    return chooseBaseline(runs, this.layout, ref);
  }

  async publish(run: RunRecord, _rejects?: unknown, signal?: AbortSignal): Promise<void> {
    await this.flush();
    run.rows_written = this.written;
    const shard = this.layout.shard;
    const files = this.uploads.map((u) => u.name);
    signal?.throwIfAborted();
    await this.s3(this.options.path, async (c) => {
      await this.check();
      while (this.uploads.length > 0) {
        const u = this.uploads[0]!;
        await c.completeMultipart(this.bucket, this.prefix + u.name, u.uploadId, u.etags);
        this.completed.push(u.name);
        this.uploads.shift();
      }
      // The commit point: from this write on, the partition's manifest names this run's files.
      await c.put(this.bucket, this.prefix + runFile(shard), serializeRecord(run, undefined, files));
      this.completed = [];
    });
    // Published: from here on a failure is a warning, never a failed run.
    try {
      await this.s3(this.options.path, async (c) => {
        const { names, runs } = await this.partition();
        const present = runs.filter((r) => r.run.run_id === run.run_id || keeps(shard, r.shard));
        const keep = new Set([...present.flatMap((r) => r.files), ...present.map((r) => runFile(r.shard))]);
        for (const name of names) {
          const kind = classifyObject(name);
          if ((kind.kind === 'part' || kind.kind === 'run') && !keep.has(name) && !keeps(shard, kind.shard))
            await c.delete(this.bucket, this.prefix + name);
        }
        if (isComplete(present.map((r) => r.shard))) await c.put(this.bucket, this.prefix + SUCCESS_FILE, '');
        else if (names.includes(SUCCESS_FILE)) await c.delete(this.bucket, this.prefix + SUCCESS_FILE);
      });
    } catch (err) {
      this.layout.warn?.(
        `sink: ${this.options.path} was published, but what it replaced could not all be deleted (${(err as Error).message}); the next run of the partition deletes it.`,
      );
    }
    await this.s3(this.options.root, (c) => replaceObjectRecord(c, this.bucket, this.rootKey, run)).catch(
      (err: Error) =>
        this.layout.warn?.(
          `ledger: run ${run.run_id} was published but its ledger record could not be updated (${err.message}).`,
        ),
    );
  }

  async abort(run: RunRecord): Promise<void> {
    this.buffer.clear();
    const c = this.client;
    if (!c) return;
    for (const u of this.uploads)
      await c.abortMultipart(this.bucket, this.prefix + u.name, u.uploadId).catch(() => undefined);
    this.uploads = [];
    // No run file lists these (unless the run file's write reached the store though its reply was
    // lost): they would show to a lister until the next run removed them.
    if (this.completed.length > 0) {
      const live = await readObjectRecord(c, this.bucket, this.prefix + runFile(this.layout.shard)).catch(
        () => undefined,
      );
      if (live === undefined || live.run.run_id !== run.run_id)
        for (const name of this.completed) await c.delete(this.bucket, this.prefix + name).catch(() => undefined);
      this.completed = [];
    }
    if (this.recorded) await replaceObjectRecord(c, this.bucket, this.rootKey, run).catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.encoder.close();
    await this.release?.();
    this.release = undefined;
  }
}
