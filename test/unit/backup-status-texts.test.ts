/**
 * The status panes' and SR pickers' backup texts (components/status/backup-texts.ts) and the
 * checked view of the scheduled runner's result file (lastScheduledRun): what a damaged or
 * hostile file or record holds is dropped or escaped, never drawn raw.
 */
import { describe, expect, it } from 'vitest';
import { lastScheduledRun } from '../../src/app/index.js';
import { srBackupOf, newestRecorded, type SrBackupEntry } from '../../src/dr/overview.js';
import { formatLastBackupRecord, type LastBackupRecord } from '../../src/dr/backup-record.js';
import { sampleRecord } from '../helpers/last-backup.js';
import type { ScheduledResult } from '../../src/dr/scheduled-backup.js';
import { backupWhen, fitText, lastBackupLines, lastScheduledLines, srBackupCell, srBackupText } from '../../components/status/backup-texts.js';

const MiB = 1024 ** 2;
const VDI = '11111111-2222-5333-8444-555555555555';
const rec = (over: Partial<LastBackupRecord> = {}): string => formatLastBackupRecord(sampleRecord({ vms: 20, templates: 1, ...over }));

const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('an SR backup as the picker shows it', () => {
  it('record → "backup <date>, N% full, ~K more fit"; no record; none', () => {
    const b = srBackupOf(VDI, rec());
    expect(srBackupText(b)).toBe('backup 2026-12-07 14:00, 64% full, ~3 more fit');
    expect(srBackupCell(b)).toBe('64%');
    expect(srBackupText(srBackupOf(VDI, undefined))).toBe('backup VDI, no record');
    expect(srBackupCell(srBackupOf(VDI, undefined))).toBe('VDI');
    expect(srBackupText({ kind: 'none' })).toBe('');
    expect(srBackupCell({ kind: 'none' })).toBe('');
  });

  it('retention: once the VDI keeps `keep` backups, the use stays level', () => {
    // 10 backups of ~6 % each kept, keep 10: each new one replaces the oldest.
    expect(srBackupText(srBackupOf(VDI, rec({ usedBytes: 600 * MiB, backupBytes: 60 * MiB, keep: 10 })))).toBe('backup 2026-12-07 14:00, 60% full, room for every backup kept');
  });

  it('a record that is not one (escape in its date, not a string, too long) is "no record"', () => {
    expect(srBackupOf(VDI, rec({ date: '2026-12-07-14-00-00\u001b[2J' })).kind).toBe('unrecorded');
    expect(srBackupOf(VDI, 42).kind).toBe('unrecorded');
    expect(srBackupOf(VDI, { v: 1 }).kind).toBe('unrecorded');
    expect(srBackupOf(VDI, `${rec()}${' '.repeat(2000)}`).kind).toBe('unrecorded');
  });

  it('absurd numbers stay short', () => {
    expect(fitText(3_602_879_701_896_397)).toBe('over 999 more fit');
    expect(fitText(1)).toBe('~1 more fits');
    expect(fitText(0)).toBe('no more fit');
    expect(fitText(null)).toBe('');
    expect(backupWhen('not a date\u001b[2J')).not.toMatch(UNSAFE);
  });
});

describe('the last backup in the status pane', () => {
  const entry = (name: string, raw: string | undefined): SrBackupEntry => ({ sr: { uuid: VDI, name }, backup: srBackupOf(VDI, raw) as SrBackupEntry['backup'] });

  it('names the SR of the newest record, escaped', () => {
    const entries = [entry('Older', rec({ finishedAt: '2026-12-01T00:00:00Z' })), entry('\u009b2J\u202eNewer', rec()), entry('Stock', undefined)];
    const newest = newestRecorded(entries);
    expect(newest?.sr.name).toBe('\u009b2J\u202eNewer');
    const [line] = lastBackupLines({ kind: 'read', entries, newest });
    expect(line!.text).toBe('Last backup: 2026-12-07 14:00 on SR "\\u009b2J\\u202eNewer" (20 VMs, 1 templates): 64% full, ~3 more fit.');
  });

  it('warns when no more fit; counts failed exports', () => {
    const entries = [entry('Full', rec({ usedBytes: 950 * MiB, failures: 3 }))];
    const lines = lastBackupLines({ kind: 'read', entries, newest: newestRecorded(entries) });
    // One line, in the alert colour: a pane short of rows cannot keep the backup and drop the warning.
    expect(lines).toEqual([{ alert: true, text: expect.stringContaining(', 3 failed): 95% full; the next backup to this SR will be refused: keep fewer backups') }]);
  });

  it('only VDIs without a record, or none at all', () => {
    expect(lastBackupLines({ kind: 'read', entries: [entry('S', undefined)], newest: null })[0]!.text).toBe(
      'Last backup: not recorded (SR "S" holds a backup VDI without a record, e.g. made by the stock tools).',
    );
    expect(lastBackupLines({ kind: 'read', entries: [], newest: null })[0]!.text).toBe('Last backup: none (no SR holds a backup VDI).');
  });
});

describe('the last scheduled run in the status pane', () => {
  const base: ScheduledResult = {
    status: 'failed',
    startedAt: '2026-12-07T02:00:00.000Z',
    finishedAt: '2026-12-07T02:00:03.000Z',
    exitCode: 1,
    requestedSr: null,
    sr: { uuid: VDI, name: 'Local storage' },
    fellBackToDefaultSr: false,
    warnings: [],
    error: { code: 'SR_FULL', meaning: 'The SR has no room for the backup VDI.', nextStep: 'Free space on the SR, or choose another SR.' },
  };

  it('a failure: its code, meaning and next step, in the alert colour', () => {
    const lines = lastScheduledLines(lastScheduledRun(base));
    expect(lines[0]).toMatchObject({ alert: true });
    expect(lines[0]!.text).toMatch(/^Scheduled backup FAILED \(\d{4}-\d\d-\d\d \d\d:\d\d, SR "Local storage"\): SR_FULL: The SR has no room for the backup VDI\.$/);
    expect(lines[1]!.text).toBe('Free space on the SR, or choose another SR.');
  });

  it('a damaged file: wrong types dropped, bad dates unknown, control characters escaped', () => {
    const hostile = {
      ...base,
      finishedAt: 'tomorrow\u001b[2J',
      startedAt: 12,
      sr: { uuid: 42, name: 'x' },
      error: { code: { nested: true }, meaning: 'over\u001b]0;pwned\u0007 there', nextStep: 'x'.repeat(5000) },
    } as unknown as ScheduledResult;
    const run = lastScheduledRun(hostile);
    expect(run.at).toBeNull();
    expect(run.sr).toBeNull();
    expect(run.failure).toMatchObject({ kind: 'expected', code: 'EXIT_1' });
    const lines = lastScheduledLines(run);
    for (const l of lines) expect(l.text).not.toMatch(UNSAFE);
    expect(lines[0]!.text).toContain('FAILED (time unknown): EXIT_1: over');
    // An over-long next step is not drawn: the generic one is.
    expect(lines[1]!.text).toBe('Run the backup from this console to see the failure, then fix it.');
  });

  it('a bug in the runner reads as one', () => {
    expect(lastScheduledRun({ ...base, error: { code: 'INTERNAL_BUG', meaning: 'm', nextStep: 'n' } }).failure?.kind).toBe('bug');
  });

  it('success and partial success; none recorded', () => {
    const backup = { date: '2026-12-07-02-00-00', vdi: VDI, vdiCreated: false, vmsExported: 5, templatesExported: 0, failureCount: 2, failures: [], backupsKept: 3, usedPercent: 12, access: 'attach', durationMs: 1 };
    const { error: _e, ...ok } = base;
    expect(lastScheduledLines(lastScheduledRun({ ...ok, status: 'ok', exitCode: 0, backup: { ...backup, failureCount: 0 } }))[0]!.text).toMatch(/: backup 2026-12-07 02:00, succeeded\.$/);
    expect(lastScheduledLines(lastScheduledRun({ ...ok, status: 'partial', exitCode: 4, backup }))[0]).toMatchObject({ alert: true, text: expect.stringContaining('but 2 VM export(s) FAILED.') });
    expect(lastScheduledLines(null)[0]!.text).toBe('Last scheduled backup: none recorded.');
  });
});
