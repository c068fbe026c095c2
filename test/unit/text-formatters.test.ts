/**
 * Every text the commands and the console build from a report, with every string in the
 * report (names, uuids, dates, file names, error codes, parameters and messages) replaced
 * by a hostile one holding raw ESC, CR/LF, C1, a bidi override and U+2028 — what a pool
 * whose transport keeps such characters, or a crafted result file, would hand them. No
 * output may hold a raw unsafe character or begin a line with the forged text, and the
 * value must still be shown (escaped).
 */
import { describe, expect, it } from 'vitest';
import type { BackupReport } from '../../src/dr/backup.js';
import type { ClassicExportReport, ClassicImportReport } from '../../src/dr/legacy.js';
import type { ImageInspection } from '../../src/dr/inspect.js';
import type { PreflightReport, RestoreReport } from '../../src/dr/restore.js';
import { ScheduleError, type ScheduleStatus, type SetScheduleReport } from '../../src/dr/schedule.js';
import type { ScheduledOutcome, ScheduledResult } from '../../src/dr/scheduled-backup.js';
import { failureLines, operatorFailure, type SrChoice } from '../../src/app/index.js';
import { XenApiError } from '../../src/xenapi/index.js';
import { backupText } from '../../src/commands/backup.js';
import { classicExportText, classicImportText } from '../../src/commands/classic.js';
import { inspectText } from '../../src/commands/inspect.js';
import { preflightText, restoreText } from '../../src/commands/restore.js';
import { lastResultText, scheduleGetText, scheduleSetText, scheduledOutcomeText } from '../../src/commands/schedule.js';
import { failureText, printFailure } from '../../src/commands/output.js';
import { backupFailureText, backupSummaryText } from '../../components/backup/summary.js';
import { dateRow, preflightLines, restoreFailureText, summaryLines, vdiRow } from '../../components/restore/texts.js';
import { lastRunLine, scheduleSetMessage, srLine } from '../../components/schedule/texts.js';
import { srRow } from '../../components/dialogues/SrPicker.js';
import { layoutLines, plainText, type TextLine } from '../../components/dialogues/TextDialogue.js';
import { wrapText } from '../../components/text.js';
import { FORGED, forgedLines, rawUnsafe } from '../helpers/hostile-text.js';

const V = '\u001b[2J\r\nBackup Successful\u009b31m\u202e\u2028Backup Successful';
/** How V is shown once neutralised. */
const V_SHOWN = '\\u001b[2J\\u000d\\u000aBackup Successful\\u009b31m\\u202e\\u2028Backup Successful';
/** Fields the formatters only compare, never print, or that the program itself sets. */
const ENUMS = new Set(['kind', 'status', 'scope', 'access', 'setting', 'previous', 'frequency', 'phase', 'source', 'state', 'action']);

/** A deep copy with every string replaced by V (enum fields kept). */
function poison<T>(value: T, key = ''): T {
  if (typeof value === 'string') return (ENUMS.has(key) ? value : V) as T;
  if (Array.isArray(value)) return value.map((v) => poison(v, key)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, poison(v, k)])) as T;
  }
  return value;
}

function expectSafe(text: string, what: string, shows = true): void {
  expect(rawUnsafe(text, { lines: true }), `${what}:\n${text}`).toEqual([]);
  expect(forgedLines(text), what).toEqual([]);
  if (shows) expect(text, what).toContain(V_SHOWN);
}

const lines = (ls: readonly TextLine[]) => plainText(ls);
const uuid = 'b0c1d2e3-1111-4222-8333-444455556666';
const error = { code: 'VM_BAD_POWER_STATE', meaning: 'meaning', nextStep: 'next', params: ['p1', 'p2'] };

const backup: BackupReport = poison({
  sr: { uuid, name: 'sr' },
  vdi: { uuid, created: true, deterministicUuid: false },
  pool: { uuid, name: 'pool' },
  date: '2025-01-02-03-04-05',
  access: 'remote',
  vmsExported: 1,
  templatesExported: 0,
  failures: [{ uuid, name: 'vm', template: false, code: 'X', message: 'failed' }],
  bytesWritten: 1,
  vapps: { supported: true, vapps: 2, vms: 3 },
  spaceBefore: { usedPercent: 1, usedBytes: 1, availableBytes: 1 },
  spaceAfter: { usedPercent: 1, usedBytes: 1, availableBytes: 1 },
  backupsKept: ['2025-01-02-03-04-05'],
  backupsRemoved: ['2025-01-01-03-04-05'],
  databaseHistory: 0,
  repaired: true,
  commit: { inPlace: 1, journaled: 1, journalBlocks: 3, kind: 'journaled' },
  transfer: { downloadedBytes: 1, uploadedBytes: 1 },
  durationMs: 1,
  clock: { source: 'master-local', skewMs: 0, masterUtcOffsetMinutes: 0, warnings: ['skew'] },
  warnings: ['warning'],
  cleaned: [
    { kind: 'vbd', uuid, vm: 'vm', ours: true, unplugged: true },
    { kind: 'file', path: '/x', bytes: 1 },
  ],
  waited: { ms: 1000, for: 'holder' },
  keep: 12,
  forecast: { backupsThatFit: 1, nextRefused: false, lastThatFits: true },
  recordWritten: false,
});

const preflight: PreflightReport = poison({
  sr: { uuid, name: 'sr' },
  vdi: { uuid, trusted: false },
  date: '2025-01-02-03-04-05',
  scope: 'sr',
  force: false,
  vms: [
    {
      file: 'f.vmmeta',
      uuid,
      name: 'vm',
      powerState: 'Halted',
      isTemplate: false,
      clash: { name: 'here', powerState: 'Running' },
      missingDisks: [{ vdiUuid: uuid, location: 'loc', srUuid: uuid, vdiName: 'disk', srName: 'sr', srInPool: false, attached: true }],
      newNetworks: ['net'],
      expectedError: 'VDI_LOCATION_MISSING',
    },
    { file: 'g.vmmeta', uuid, name: '', powerState: '', isTemplate: false, clash: null, missingDisks: [], newNetworks: [], error: 'unreadable' },
  ],
  skipped: [{ name: 'entry', reason: 'why' }],
  names: [{ kind: 'SR', uuid, nameLabel: 'label', nameDescription: 'description' }],
  cleaned: [{ kind: 'vbd', uuid, vm: 'dom0', ours: true, unplugged: true }],
  counts: { exports: 2, vms: 1, templates: 0, unreadable: 1, skipped: 1, clashes: 1, missingDisks: 1, newNetworks: 1, expectedErrors: 1, namesToSet: 1 },
    networks: [],
    poolNetworks: [],
    macClashes: [],
    macPolicy: '',
});

const restore: RestoreReport = poison({
  sr: { uuid, name: 'sr' },
  vdi: { uuid, trusted: false },
  date: '2025-01-02-03-04-05',
  scope: 'all',
  dryRun: true,
  force: false,
  results: [
    { file: 'f.vmmeta', vmUuid: uuid, name: 'vm', kind: 'vm', ok: true, created: [{ uuid, name: 'vm' }] },
    { file: 'g.vmmeta', vmUuid: uuid, name: 'vm', kind: 'template', ok: false, created: [], error },
  ],
  skipped: [{ name: 'entry', reason: 'why' }],
  names: [
    { kind: 'SR', uuid, nameLabel: 'label', nameDescription: 'description', applied: false, error: 'not set' },
    { kind: 'VDI', uuid, nameLabel: 'label', nameDescription: 'description', applied: true },
  ],
  restored: 1,
  errors: 1,
  counts: { exports: 2, vms: 1, templates: 1, unreadable: 0, skipped: 1, restoredVms: 1, restoredTemplates: 0, namesSet: 1, namesUnchanged: 0, namesFailed: 1 },
  summary: 'Restored 1 VM(s), and 1 error(s)',
  durationMs: 1,
  cleaned: [{ kind: 'vbd', uuid, vm: 'vm', ours: false, unplugged: false }],
  waited: { ms: 1000, for: 'holder' },
  vapps: {
    state: 'read',
    warnings: ['warning'],
    vapps: [
      { uuid, name: 'vapp', action: 'created', hereUuid: uuid, members: 1, restoredMembers: 1, note: 'note' },
      { uuid, name: 'vapp', action: 'failed', hereUuid: uuid, members: 0, restoredMembers: 1, error: { code: 'X', meaning: 'm', nextStep: 'n', vm: uuid } },
    ],
  },
});

const classicExport: ClassicExportReport = poison({
  files: [
    { index: 1, file: '/b/vms.xva', vm: { uuid, name: 'vm' }, ok: true, bytes: 1 },
    { index: 2, file: '/b/vms.xva2', vm: { uuid, name: 'vm' }, ok: false, error },
  ],
  exported: 1,
  failed: 1,
  removedStale: ['/b/vms.xva3'],
  warnings: ['gap'],
});

const classicImport: ClassicImportReport = poison({
  sr: { uuid, name: 'sr' },
  preserve: true,
  force: false,
  dryRun: false,
  results: [
    { index: 1, file: '/b/vms.xva', ok: true, vms: [{ uuid, name: 'vm' }], created: [{ uuid, name: 'vm' }] },
    { index: 2, file: '/b/vms.xva2', ok: false, vms: [], created: [], error },
  ],
  imported: 1,
  errors: 1,
  summary: 'Imported 1 file(s), and 1 error(s)',
});

const inspection: ImageInspection = poison({
  image: '/img',
  sizeBytes: 1,
  usedPercent: 1,
  usedBytes: 1,
  availableBytes: 1,
  backupVdis: [uuid],
  history: 12,
  databases: [{ pool: uuid, dumps: 1 }],
  backups: [{ date: '2025-01-02-03-04-05', vms: 1, bySr: [{ sr: uuid, vms: 1 }], hasSrMeta: false }],
  incomplete: ['.incomplete-x'],
  ignored: ['odd'],
  detail: {
    date: '2025-01-02-03-04-05',
    vms: [
      { file: 'f', uuid, name: 'vm', powerState: 'Halted', isTemplate: false, disks: 1, srs: [uuid] },
      { file: 'g', uuid, error: 'unreadable' },
    ],
    srMeta: [{ uuid, nameLabel: 'label', nameDescription: 'd', vdis: [] }],
    srMetaError: 'bad',
    ignored: ['odd'],
    vapps: [{ uuid, name: 'web tier', vms: 2 }],
    vappsWarnings: ['entry skipped'],
  },
});

const scheduled: ScheduledResult = poison({
  status: 'partial',
  startedAt: '2025-01-02T03:04:05Z',
  finishedAt: 'not a date',
  exitCode: 4,
  requestedSr: uuid,
  sr: { uuid, name: 'sr' },
  fellBackToDefaultSr: true,
  warnings: ['fell back'],
  backup: {
    date: '2025-01-02-03-04-05',
    vdi: uuid,
    vdiCreated: false,
    vmsExported: 1,
    templatesExported: 0,
    failureCount: 1,
    failures: [],
    backupsKept: 1,
    usedPercent: 1,
    access: 'attach',
    durationMs: 1,
  },
  alert: 'ALERT exited abnormally with [4]',
  alertLogged: true,
});
const failedRun: ScheduledResult = { ...scheduled, status: 'failed', error: poison({ code: 'X', meaning: 'm', nextStep: 'n' }) };

const status: ScheduleStatus = poison({
  setting: 'daily',
  entries: [],
  active: { frequency: 'daily', path: '/etc/cron.daily/backup-metadata', kind: 'other-link', target: '/elsewhere' },
  config: null,
  runner: { path: '/r', exists: true },
  sr: uuid,
  stateDir: '/s',
  lastResult: scheduled,
  warnings: ['warning'],
});

const setReport: SetScheduleReport = poison({
  setting: 'weekly',
  previous: 'daily',
  link: '/etc/cron.weekly/backup-metadata',
  runner: '/r',
  sr: uuid,
  removed: [{ frequency: 'daily', path: '/etc/cron.daily/backup-metadata', kind: 'stock', target: '/stock' }],
});

describe('command texts', () => {
  it('backup, classic export and import, preflight, restore, inspect', () => {
    expectSafe(backupText(backup), 'backupText');
    expectSafe(classicExportText(classicExport), 'classicExportText');
    expectSafe(classicImportText(classicImport), 'classicImportText');
    expectSafe(preflightText(preflight), 'preflightText');
    expectSafe(restoreText(restore), 'restoreText');
    expectSafe(inspectText(inspection), 'inspectText');
  });

  it('the schedule and the scheduled runner, from a crafted result file', () => {
    expectSafe(lastResultText(scheduled), 'lastResultText partial');
    expectSafe(lastResultText(failedRun), 'lastResultText failed');
    expectSafe(scheduleGetText(status), 'scheduleGetText');
    expectSafe(scheduleSetText(setReport), 'scheduleSetText');
    const outcome: ScheduledOutcome = { acted: true, result: scheduled, resultFile: V, recorded: false, recordError: V };
    expectSafe(scheduledOutcomeText(outcome), 'scheduledOutcomeText');
    expectSafe(scheduledOutcomeText({ acted: false, reason: V, poolRole: { role: 'supporter', master: V } }), 'not acted');
  });

  it('errors: a fault whose code and parameters are hostile is said in two lines, nothing raw', () => {
    const fault = new XenApiError([V, V, V], 'VM.get_record');
    const text = failureText(operatorFailure(fault));
    expectSafe(text, 'failureText', false);
    expect(text.split('\n')).toHaveLength(2);
    const printed: string[] = [];
    const io = { out: (t: string) => printed.push(t), err: (t: string) => printed.push(t) };
    printFailure(io, fault, false);
    printFailure(io, new ScheduleError('FOREIGN_ENTRY', `not ours: ${V}`), false);
    for (const t of printed) expectSafe(t, 'printed failure', false);
    // --json keeps the exact values, and is inert.
    printFailure(io, fault, true);
    const json = printed.at(-1)!;
    expect(rawUnsafe(json, { lines: true })).toEqual([]);
    expect((JSON.parse(json) as { error: { code: string } }).error.code).toBe(V);
  });
});

describe('console texts', () => {
  it('backup summary and failure, restore preflight and summary, schedule lines, list rows', () => {
    expectSafe(backupSummaryText(backup), 'backupSummaryText');
    expectSafe(lines(preflightLines(preflight, preflight.vdi)), 'preflightLines');
    expectSafe(lines(summaryLines(restore, preflight, new Date(2025, 0, 2))), 'summaryLines');
    const last = lastRunLine(failedRun);
    expectSafe(typeof last === 'string' ? last : last.text, 'lastRunLine');
    const ours: ScheduleStatus = { ...status, active: { frequency: 'daily', path: V, kind: 'ours', target: V } };
    expectSafe(srLine(ours, { uuid: V, name: V, isDefault: true }), 'srLine');
    expectSafe(scheduleSetMessage(setReport), 'scheduleSetMessage');
    const sr: SrChoice = { ref: V, uuid: V, nameLabel: V, type: V, contentType: 'user', shared: true, physicalSize: 1, physicalUtilisation: 0, isDefault: true, backup: { kind: 'none' } };
    // Rows are cut to their columns: only the start of the escaped name fits.
    for (const row of [srRow(sr), vdiRow({ uuid: V, nameLabel: V, virtualSize: 1, trusted: false, attachedTo: [] }), dateRow({ date: V, vms: 1, vmsOnSr: 1, skipped: 0, skippedOnSr: 0, hasSrMeta: true })]) {
      expectSafe(row, 'row', false);
      expect(row).toContain('\\u001b[2J');
    }
  });

  it('failures from a hostile fault: every part one line; the dialogue texts hold only the program\'s line breaks', () => {
    const f = operatorFailure(new XenApiError([V, V], 'VDI.create'));
    for (const part of failureLines(f)) expect(part).not.toMatch(/[\n\r\u2028\u0085]/);
    const backupFailure = backupFailureText({ ...f, step: V });
    expectSafe(backupFailure, 'backupFailureText', false);
    expect(backupFailure.split('\n')).toHaveLength(3); // prefix + code + meaning (step inside), blank, next step
    const restoreFailure = restoreFailureText({ kind: 'expected', code: V, meaning: V, nextStep: V });
    expectSafe(restoreFailure, 'restoreFailureText', false);
    expect(restoreFailure.split('\n')).toHaveLength(3);
  });

  it('laid-out rows: whatever text reaches a dialogue, no row holds a raw character', () => {
    // (Its LFs are taken as the program's paragraphs: names are neutralised before, above.)
    const rows = [...layoutLines([V, { text: `x ${V} y`, alert: true }], 68).map((row) => row.text), ...wrapText(`${V}\n${V}`, 40)];
    expect(rows.length).toBeGreaterThan(4);
    for (const row of rows) expect(rawUnsafe(row), row).toEqual([]);
    expect(forgedLines(V)).toHaveLength(2); // the check sees what a raw name would do
    expect(FORGED).toBe('Backup Successful');
  });
});
