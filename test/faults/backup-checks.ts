/**
 * What the backup fault campaign checks after each injected run, shared by its files.
 */
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import { BackupStepError, runBackup, type BackupReport } from '../../src/dr/backup.js';
import { isBackupDate, INCOMPLETE_PREFIX } from '../../src/dr/layout.js';
import { openExt3 } from '../../src/dr/volume/ext3.js';
import { readFileBytes } from '../../src/dr/volume/files.js';
import { isAbortError } from '../../src/xenapi/index.js';
import { controlDomainAttachments, type TestPool } from '../helpers/pool.js';
import { arm, settle, type FaultMode, type Step } from './inject.js';

export const MODES: FaultMode[] = ['error', 'drop', 'abort'];
/** Every backup is kept, so "earlier backups intact" is not confused with retention. */
export const KEEP_ALL = 10_000;

let clock = Date.UTC(2025, 2, 1, 0, 0, 0);
export const tick = () => new Date((clock += 60_000));

export interface BackupsSeen {
  /** Stock-named dated folders (what a restore lists). */
  dates: string[];
  /** Folders left under the hidden in-progress prefix. */
  partial: string[];
  /** date → digest of every file name, link target and file content in it. */
  digest: Map<string, string>;
  /** date → names in all/ */
  files: Map<string, string[]>;
}

/**
 * Reads the backup filesystem directly from its image file (read-only, no fsck); digests
 * the dated backups named in `digest` (all when omitted).
 */
export async function seeBackups(image: string, digest?: readonly string[]): Promise<BackupsSeen> {
  const vol = await openExt3(image, { write: false, fsck: false });
  try {
    const fs = vol.fs;
    const names = (await fs.readdir('/metadata')).filter((n) => n !== '.' && n !== '..');
    const seen: BackupsSeen = { dates: names.filter(isBackupDate).sort(), partial: names.filter((n) => n.startsWith(INCOMPLETE_PREFIX)), digest: new Map(), files: new Map() };
    for (const date of seen.dates.filter((d) => !digest || digest.includes(d))) {
      const h = createHash('sha256');
      const walk = async (dir: string): Promise<void> => {
        for (const n of (await fs.readdir(dir)).filter((x) => x !== '.' && x !== '..').sort()) {
          const p = `${dir}/${n}`;
          const st = await fs.lstat(p);
          h.update(`${p}\0`);
          if (st.isSymbolicLink()) h.update(`-> ${await fs.readlink(p)}\0`);
          else if (st.isDirectory()) await walk(p);
          else h.update(await readFileBytes(fs, p, 64 * 1024 * 1024));
        }
      };
      await walk(`/metadata/${date}`);
      seen.digest.set(date, h.digest('hex'));
      seen.files.set(date, (await fs.readdir(`/metadata/${date}/all`)).filter((x) => x !== '.' && x !== '..').sort());
    }
    return seen;
  } finally {
    await vol.close();
  }
}

/** Nothing of the run left on the pool: the check is retried while calls still drain. */
export async function leftovers(p: TestPool): Promise<string | undefined> {
  return settle(async () => {
    const att = await controlDomainAttachments(p.sim);
    if (att.vbds > 0 || att.devices.length > 0) return `VBD left on the control domain: ${JSON.stringify(att)}`;
    const tasks = [...p.sim.db.allRecords('task').values()].map((t) => `${t.name_label} (${t.status})`);
    if (tasks.length > 0) return `task(s) left: ${tasks.join(', ')}`;
    return undefined;
  });
}

export interface Outcome {
  report?: BackupReport;
  error?: unknown;
}

export async function backupWith(p: TestPool, step: Step, mode: FaultMode): Promise<Outcome> {
  const ac = new AbortController();
  const disarm = arm(p.sim, step, mode, ac);
  try {
    return { report: await runBackup(p.session, { now: tick, history: KEEP_ALL, signal: ac.signal }) };
  } catch (error) {
    return { error };
  } finally {
    disarm();
  }
}

/** A failed run says which step failed (and, for an injected XAPI error, the code). */
export function expectStepMessage(error: unknown, mode: FaultMode, where: string): void {
  if (mode === 'abort' && isAbortError(error)) return;
  expect(error, where).toBeInstanceOf(BackupStepError);
  const e = error as BackupStepError;
  expect(e.message, where).toMatch(/^[A-Z][a-z]+( [A-Za-z]+)* failed: /);
  if (mode === 'error') expect(e.message, where).toContain('INTERNAL_ERROR');
}

