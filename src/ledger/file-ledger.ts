import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createExclusive } from '../exclusive-file.js';
import type { Shard } from '../config/job.js';
import { normalizeRun, type RunRecord } from './record.js';

// The ledger of Parquet output, in two places. Every run, failed and running ones included, has
// a record in `<root>/_mlscale/runs/<run_id>.json`, written when it starts and replaced whole
// when it ends. Each published partition also holds the records of the runs it shows
// (`_mlscale_run.json`, or `_mlscale_run-s1of4.json` per shard), which travel with its files.
// Leading underscores make Spark, pyarrow and DuckDB's `*.parquet` globs pass all of them by.

/** The unsharded run record's file name in a partition. */
export const RUN_FILE = '_mlscale_run.json';

/** mlscale's own directory under a sink root; no partition path may lead into it. */
export const LEDGER_DIR = '_mlscale';

export const RUN_FILE_PATTERN = /^_mlscale_run(?:-s(\d+)of(\d+))?\.json$/;

const runsDir = (root: string) => path.join(root, LEDGER_DIR, 'runs');
const recordFile = (root: string, runId: string) => path.join(runsDir(root), `${runId}.json`);
/**
 * A record as written: the run, and while it runs the lock file it holds (relative to the root),
 * by which a reader tells a live run from one whose process is gone.
 */
const serialize = (run: RunRecord, lock?: string) =>
  JSON.stringify(lock !== undefined && run.status === 'running' ? { ...run, lock } : run, null, 2) + '\n';

export async function writeRunFile(dir: string, run: RunRecord): Promise<void> {
  await writeFile(path.join(dir, RUN_FILE), serialize(run));
}

async function readRecord(file: string): Promise<RunRecord | undefined> {
  return (await readRecordAndLock(file))?.run;
}

async function readRecordAndLock(file: string): Promise<{ run: RunRecord; lock: string | undefined } | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const raw = JSON.parse(text) as Record<string, unknown>;
    return { run: normalizeRun(raw), lock: typeof raw.lock === 'string' ? raw.lock : undefined };
  } catch {
    return undefined;
  }
}

/** The unsharded run recorded in `dir`, or undefined when there is none (or it is not a run record). */
export async function readRunFile(dir: string): Promise<RunRecord | undefined> {
  return readRecord(path.join(dir, RUN_FILE));
}

/**
 * The runs a partition directory shows, with the shard each published: its run files, and the
 * shard directories (`shard-1-of-4/`) of the layout before shard files moved to partition depth.
 */
export async function readPartitionRuns(dir: string): Promise<{ shard: Shard; run: RunRecord }[]> {
  const found: { shard: Shard; run: RunRecord }[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const file = RUN_FILE_PATTERN.exec(e.name);
    const legacy = e.isDirectory() ? /^shard-(\d+)-of-(\d+)$/.exec(e.name) : null;
    const m = file && e.isFile() ? file : legacy;
    if (!m) continue;
    const run = await readRecord(legacy ? path.join(dir, e.name, RUN_FILE) : path.join(dir, e.name));
    const shard = m[1] === undefined ? { index: 0, count: 1 } : { index: Number(m[1]), count: Number(m[2]) };
    if (run) found.push({ shard, run });
  }
  return found;
}

/** A temporary name beside `file`, hidden (leading dot) from findRuns and from other writers. */
const temporary = (file: string) =>
  path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);

/**
 * Records a starting run under `root`. The record appears whole, and only when no run has that
 * id (hard-linked into place, which fails if it exists): returns false when the id is taken.
 */
export async function createRunRecord(root: string, run: RunRecord, lock?: string): Promise<boolean> {
  const file = recordFile(root, run.run_id);
  await mkdir(path.dirname(file), { recursive: true });
  return createExclusive(file, serialize(run, lock), temporary(file));
}

/** Replaces a run's record under `root` whole: a reader sees the old record or the new one. */
export async function replaceRunRecord(root: string, run: RunRecord, lock?: string): Promise<void> {
  const file = recordFile(root, run.run_id);
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = temporary(file);
  try {
    await writeFile(tmp, serialize(run, lock));
    await rename(tmp, file);
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Temporary record files under `root` (left by a process killed between writing and renaming one), with their writer's pid. */
export async function recordTemporaries(root: string): Promise<{ file: string; pid: number }[]> {
  const dir = runsDir(root);
  return (await readdir(dir).catch(() => [] as string[])).flatMap((name) => {
    const m = /^\..+\.json\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name);
    return m ? [{ file: path.join(dir, name), pid: Number(m[1]) }] : [];
  });
}

/** The record of run `runId` under `root`, if there is one. */
export async function readRunRecord(root: string, runId: string): Promise<RunRecord | undefined> {
  return readRecord(recordFile(root, runId));
}

/**
 * Every run recorded under `root`, `root` itself included, down to `depth` directory levels: the
 * run ledgers (`_mlscale/runs/`) and the published partitions' run files. A run found in both is
 * returned once, as its partition shows it: that copy went live with its files, so it holds even
 * when the process died before it could rewrite its ledger record. Hidden directories (staging
 * and set-aside copies, which start with a dot) are not published and are skipped. With `lives`,
 * a record still `running` whose lock its run no longer holds reads `abandoned`.
 */
export async function findRuns(
  root: string,
  depth = Infinity,
  lives?: (lockFile: string, runId: string) => Promise<boolean>,
): Promise<RunRecord[]> {
  const published = new Map<string, RunRecord>();
  const ledger = new Map<string, RunRecord>();
  const walk = async (dir: string, level: number): Promise<void> => {
    for (const { run } of await readPartitionRuns(dir)) published.set(run.run_id, run);
    for (const name of await readdir(runsDir(dir)).catch(() => [] as string[])) {
      if (name.startsWith('.') || !name.endsWith('.json')) continue;
      const found = await readRecordAndLock(path.join(runsDir(dir), name));
      if (!found) continue;
      const { run, lock } = found;
      if (run.status === 'running' && lives && !(lock !== undefined && (await lives(path.join(dir, lock), run.run_id))))
        run.status = 'abandoned';
      ledger.set(run.run_id, run);
    }
    if (level >= depth) return;
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries)
      if (e.isDirectory() && !e.name.startsWith('.') && e.name !== LEDGER_DIR && !/^shard-\d+-of-\d+$/.test(e.name))
        await walk(path.join(dir, e.name), level + 1);
  };
  await walk(root, 0);
  for (const [id, run] of ledger) if (!published.has(id)) published.set(id, run);
  return [...published.values()];
}
