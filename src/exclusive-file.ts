import { randomBytes } from 'node:crypto';
import { link, rm, writeFile } from 'node:fs/promises';

/**
 * Creates `file` holding `text` only if no file has that name: written to a private file first,
 * then hard-linked into place, which fails if the name is taken. Readers see the file whole or
 * not at all. Returns false when the name was taken. `tmp` names the private file (a reader that
 * lists the directory must be able to tell it apart).
 */
export async function createExclusive(
  file: string,
  text: string,
  tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
): Promise<boolean> {
  await writeFile(tmp, text);
  try {
    await link(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  } finally {
    await rm(tmp, { force: true });
  }
}
