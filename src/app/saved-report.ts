/**
 * Reports the operator asked to keep: written exclusively (a file appearing meanwhile is
 * never replaced unless asked), owner-only (a report names every VM), through the saved
 * report sink (no raw control characters).
 */
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { savedReportText } from '../text-sinks.js';
import { ExpectedFailure } from '../failure/index.js';

export class FileExistsError extends ExpectedFailure {
  constructor(readonly path: string) {
    super('FILE_EXISTS', `${path} already exists.`, 'Choose another file name, or agree to replace it.');
    this.name = 'FileExistsError';
  }
}


/** Writes a saved report: exclusive create unless overwriting; readable by its owner only (it names every VM). */
export async function saveTextFile(dir: string, path: string, text: string, overwrite = false): Promise<string> {
  const abs = resolve(dir, path);
  try {
    const saved = savedReportText(text);
    const fh = await open(abs, overwrite ? 'w' : 'wx', 0o600);
    try {
      // An existing file keeps its mode when overwritten: make it owner-only first.
      await fh.chmod(0o600);
      await fh.writeFile(saved.endsWith('\n') ? saved : `${saved}\n`);
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new FileExistsError(abs);
    throw err;
  }
  return abs;
}
