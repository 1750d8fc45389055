import { access, constants, stat } from 'node:fs/promises';
import path from 'node:path';
import { isInside, realPath } from '../config/output-path.js';
import { UsageError } from '../errors.js';

// Checks on the directories a Parquet sink writes, made before anything is written.

/** The partition directory can be created (its nearest existing ancestor is a writable directory) and is not a file. */
export async function checkPartitionPath(target: string): Promise<void> {
  let dir = path.dirname(target);
  for (;;) {
    try {
      const st = await stat(dir);
      if (!st.isDirectory())
        throw new UsageError(
          `sink: ${dir} is not a directory, so ${target} cannot be created; fix sink.parquet.path.`,
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
  const existing = await stat(target).catch(() => undefined);
  if (existing && !existing.isDirectory()) {
    throw new UsageError(
      `sink: ${target} exists and is not a directory; sink.parquet.path names a partition directory.`,
      { code: 'sink_path' },
    );
  }
}

/** A symbolic link inside a root must not lead a publish outside it; `fix` names the setting to change. */
export async function checkLinks(target: string, root: string, fix: string): Promise<void> {
  const [realTarget, realRoot] = await Promise.all([realPath(target), realPath(root)]);
  if (!isInside(realTarget, realRoot)) {
    throw new UsageError(
      `sink: ${target} leads through a symbolic link to ${realTarget}, outside the sink's root ${realRoot}; fix ${fix} or the link.`,
      { code: 'path_escape' },
    );
  }
}
