import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A scratch directory for one test file; remove() deletes it. */
export function scratchDir(prefix: string): { dir: string; file(name: string, text: string): string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), `mlscale-${prefix}-`));
  return {
    dir,
    file(name, text) {
      const p = path.join(dir, name);
      writeFileSync(p, text);
      return p;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
