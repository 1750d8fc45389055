import { randomBytes } from 'node:crypto';
import { UsageError } from '../errors.js';

/** Sortable and unique: 20261125T191500Z-3f9a1c. */
export function newRunId(now: Date = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

/** Run ids name directories and files beside the output: letters, digits, `_`, `.` and `-`, at most this long. */
export const MAX_RUN_ID_LENGTH = 128;

/** A run id given by the user (--run-id) must be safe as a file name; otherwise exit 2. */
export function checkRunId(runId: string): string {
  if (/^[A-Za-z0-9_.-]+$/.test(runId) && runId.length <= MAX_RUN_ID_LENGTH && !/^\.+$/.test(runId)) return runId;
  throw new UsageError(
    `--run-id: "${runId}" is not a valid run id; use up to ${MAX_RUN_ID_LENGTH} letters, digits, "_", "." and "-" (not only dots).`,
    { code: 'run_id' },
  );
}
