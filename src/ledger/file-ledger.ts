import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { normalizeRun, type RunRecord } from './record.js';

// The ledger beside Parquet output: each published partition (or shard directory) holds the
// record of the run that wrote it.

/** The run record's file name; the leading underscore makes Spark, pyarrow and DuckDB skip it. */
export const RUN_FILE = '_mlscale_run.json';

export async function writeRunFile(dir: string, run: RunRecord): Promise<void> {
  await writeFile(path.join(dir, RUN_FILE), JSON.stringify(run, null, 2) + '\n');
}

/** The run recorded in `dir`, or undefined when there is none (or it is not a run record). */
export async function readRunFile(dir: string): Promise<RunRecord | undefined> {
  const text = await readFile(path.join(dir, RUN_FILE), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return normalizeRun(JSON.parse(text) as Record<string, unknown>);
  } catch {
    return undefined;
  }
}

/**
 * Every run recorded under `root`, `root` itself included, down to `depth` directory levels.
 * Hidden directories (staging and set-aside copies, which start with a dot) are not published
 * and are skipped.
 */
export async function findRuns(root: string, depth = Infinity): Promise<RunRecord[]> {
  const runs: RunRecord[] = [];
  const walk = async (dir: string, level: number): Promise<void> => {
    const run = await readRunFile(dir);
    if (run) runs.push(run);
    if (level >= depth) return;
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries)
      if (e.isDirectory() && !e.name.startsWith('.')) await walk(path.join(dir, e.name), level + 1);
  };
  await walk(root, 0);
  return runs;
}
