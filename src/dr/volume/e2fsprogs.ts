/**
 * The e2fsprogs tools the backup uses on a device path: mkfs.ext3 to format a new backup
 * VDI (exactly as the stock script: `mkfs.ext3 -j -F`), e2fsck to check/repair it.
 * They live in /usr/sbin or /sbin, which a non-root PATH often lacks.
 */
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { childEnv } from '../../child-env.js';
import { ExpectedFailure } from '../../failure/index.js';

const SBIN_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];

export async function findTool(name: string): Promise<string | null> {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean), ...SBIN_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return null;
}

export class ToolMissingError extends ExpectedFailure {
  constructor(readonly tool: string) {
    super('TOOL_MISSING', `${tool} was not found on this machine.`, 'Install the e2fsprogs package (it provides mkfs.ext3 and e2fsck), then run again.');
    this.name = 'ToolMissingError';
  }
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, env: childEnv({ LC_ALL: 'C' }) }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code !== 'number') {
        reject(err);
        return;
      }
      const code = err ? Number((err as NodeJS.ErrnoException).code) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Formats the whole device/image as ext3, like the stock script's `mkfs.ext3 -j -F`. */
export async function makeExt3(path: string): Promise<void> {
  const mkfs = await findTool('mkfs.ext3');
  if (!mkfs) throw new ToolMissingError('mkfs.ext3');
  const r = await run(mkfs, ['-q', '-j', '-F', path], 120_000);
  if (r.code !== 0) throw new ExpectedFailure('MKFS_FAILED', `mkfs.ext3 failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`, 'Check the SR and the new VDI (its size, the SR\'s health), then run again; nothing was backed up.');
}

export type FsckVerdict = 'clean' | 'repaired' | 'unrepaired';

export interface FsckResult {
  verdict: FsckVerdict;
  code: number;
  output: string;
}

/**
 * `e2fsck -p` (what the stock `fsck -a` does): replays the journal and fixes what is safe.
 * Exit 0 = clean, 1/2 = repaired, ≥4 = problems left (never written to then).
 * With `readOnly`, `e2fsck -fn` only reports.
 */
export async function checkExt3(path: string, opts: { readOnly?: boolean } = {}): Promise<FsckResult> {
  const e2fsck = await findTool('e2fsck');
  if (!e2fsck) throw new ToolMissingError('e2fsck');
  const r = await run(e2fsck, opts.readOnly ? ['-f', '-n', path] : ['-p', path], 300_000);
  const output = `${r.stdout}${r.stderr}`.trim();
  if (r.code === 0) return { verdict: 'clean', code: 0, output };
  if (r.code === 1 || r.code === 2) return { verdict: opts.readOnly ? 'unrepaired' : 'repaired', code: r.code, output };
  return { verdict: 'unrepaired', code: r.code, output };
}
