/**
 * The backup command in-process (embedded simulated pool): its progress lines come from the
 * run's typed events, the summary says how many more backups fit (text and --json), and a
 * cancelled run is told with what it cleaned, in text and --json alike.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backupAction } from '../../src/commands/backup.js';
import { printFailure, type Io } from '../../src/commands/output.js';
import { runBackup, BackupCancelledError } from '../../src/dr/backup.js';
import { backupVdiUuid } from '../../src/dr/layout.js';
import { startTestPool } from '../helpers/pool.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xsdr-cli-backup-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function capture(): Io & { outText: () => string; errLines: () => string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out: (t) => out.push(t), err: (t) => err.push(t), outText: () => out.join('\n'), errLines: () => err.join('\n').split('\n') };
}

const opts = { create: true, access: 'remote' as const };

describe('backup command', () => {
  it('prints where it goes and the space from typed events, and how many more backups fit', async () => {
    const global = { user: 'root', simState: join(dir, 'state') };
    const first = capture();
    expect(await backupAction(global, opts, first)).toBe(0);
    const lines = first.errLines();
    expect(lines[0]).toMatch(/^Using SR: \S/);
    expect(lines[1]).toMatch(/^Creating new backup VDI: [0-9a-f-]{36}$/);
    expect(lines[2]).toMatch(/^Checking backup VDI space usage: \d+% \(\d+(\.\d)? [KMG]iB free of \d+(\.\d)? [KMG]iB\)$/);
    // A 1 GiB VDI and a small pool: all twelve kept fit, then each new one replaces the oldest.
    expect(first.outText()).toMatch(/^All the backups kept fit: once as many are kept as retention allows, the oldest is removed after each new one, so the use stays about level\.$/m);

    const second = capture();
    expect(await backupAction(global, { ...opts, keep: 2, json: true }, second)).toBe(0);
    const report = JSON.parse(second.outText()) as { vdi: { uuid: string }; keep: number; forecast: unknown; recordWritten: boolean };
    // Two kept of two: each next one replaces the oldest.
    expect(report.forecast).toEqual({ backupsThatFit: 'unlimited', nextRefused: false, lastThatFits: false });
    expect(report.keep).toBe(2);
    expect(report.recordWritten).toBe(true);
    expect(second.errLines()).toEqual(['']);

    const third = capture();
    expect(await backupAction(global, opts, third)).toBe(0);
    expect(third.errLines()[1]).toBe(`Using backup VDI: ${report.vdi.uuid}`);
  });

  it('on Ctrl-C says what was cancelled and cleaned, in text and --json', async () => {
    const p = await startTestPool({ vms: 3 });
    try {
      const ac = new AbortController();
      const err = await runBackup(p.session, { access: 'remote', cacheDir: null, signal: ac.signal, onProgress: (e) => e.kind === 'phase' && e.phase === 'srmeta' && ac.abort(new Error('Ctrl-C')) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackupCancelledError);
      const text = capture();
      printFailure(text, err, false);
      const sr = [...p.sim.db.allRecords('pool').values()][0]!.default_SR;
      const vdi = backupVdiUuid(p.sim.db.get('SR', sr).uuid);
      expect(text.errLines()).toEqual([
        `Error: CANCELLED: Backup cancelled while backing up SR metadata. Nothing was written to the backup VDI: the run is written to it only once complete, and the partial run was dropped. The backup VDI ${vdi} created by this run was destroyed again. The local copy of the VDI was deleted.`,
        'Back up again when ready.',
      ]);
      const json = capture();
      printFailure(json, err, true);
      expect(JSON.parse(json.outText())).toEqual({ error: { kind: 'cancelled', code: 'CANCELLED', meaning: text.errLines()[0]!.slice('Error: CANCELLED: '.length), nextStep: 'Back up again when ready.' } });
    } finally {
      await p.close();
    }
  });
});
