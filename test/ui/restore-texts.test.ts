/** The restore's and the schedule's texts, and the pieces of the dialogues, without a terminal. */
import { describe, expect, it } from 'vitest';
import { layoutLines, plainText } from '../../components/dialogues/TextDialogue.js';
import { createFlow } from '../../components/flow.js';
import { stackReducer, type Navigator, type ScreenEntry } from '../../components/navigation.js';
import { dateRow, methodRow, preflightLines, restoreFailureText, summaryFileName, summaryLines, summaryTitle, vdiRow } from '../../components/restore/texts.js';
import { lastRunLine, scheduleSetMessage, schedulePrompt, srLine } from '../../components/schedule/texts.js';
import { cancelledText } from '../../components/restore/RestoreRun.js';
import { vdiDetails } from '../../components/restore/RestoreSearch.js';
import { restoreSummaryText, type PreflightReport, type RestoreReport } from '../../src/dr/restore.js';
import { preflightText, restoreText } from '../../src/commands/restore.js';
import { preflightGroups } from '../../src/dr/restore-text.js';
import type { ScheduleStatus } from '../../src/dr/schedule.js';
import React from 'react';

const SR = { uuid: '11111111-1111-4111-8111-111111111111', name: 'NFS storage' };
const VDI = { uuid: '22222222-2222-5222-8222-222222222222', trusted: true };
const VM = (n: number) => `aaaaaaaa-0000-4000-8000-00000000000${n}`;
const text = (lines: ReturnType<typeof summaryLines>) => plainText(lines);

function report(over: Partial<RestoreReport> = {}): RestoreReport {
  return {
    sr: SR,
    vdi: VDI,
    date: '2025-06-02-08-30-00',
    scope: 'sr',
    dryRun: false,
    force: false,
    results: [
      { file: `${VM(1)}.vmmeta`, vmUuid: VM(1), name: 'web-01', kind: 'vm', ok: true, created: [{ uuid: VM(1), name: 'web-01' }] },
      { file: `${VM(2)}.vmmeta`, vmUuid: VM(2), name: 'db-01', kind: 'vm', ok: false, created: [], error: { code: 'VDI_CONTENT_ID_MISSING', params: ['x'], meaning: 'A disk was not found.', nextStep: 'Rescan the SR.' } },
      { file: `${VM(3)}.vmmeta`, vmUuid: VM(3), name: 'db-02', kind: 'vm', ok: false, created: [], error: { code: 'VDI_CONTENT_ID_MISSING', params: ['y'], meaning: 'Another disk was not found.', nextStep: 'Rescan the SR.' } },
    ],
    skipped: [{ name: 'evil.vmmeta', reason: 'not a <vm-uuid>.vmmeta name; ignored' }],
    names: [
      { kind: 'SR', uuid: SR.uuid, nameLabel: 'NFS storage', nameDescription: '', applied: true },
      { kind: 'VDI', uuid: VM(9), nameLabel: 'gone', nameDescription: '', applied: false, error: `no VDI ${VM(9)} in this pool` },
    ],
    restored: 1,
    errors: 2,
    counts: { exports: 3, vms: 3, templates: 0, unreadable: 0, skipped: 1, restoredVms: 1, restoredTemplates: 0, namesSet: 1, namesUnchanged: 0, namesFailed: 1 },
    summary: 'Restored 1 VM(s), and 2 error(s)',
    durationMs: 1234,
    cleaned: [],
    waited: null,
    vapps: { state: 'absent', warnings: [], vapps: [] },
    ...over,
  };
}

function preflight(): PreflightReport {
  const base = { file: '', powerState: 'Halted', isTemplate: false, clash: null, missingDisks: [], newNetworks: [] as string[] };
  return {
    sr: SR,
    vdi: VDI,
    date: '2025-06-02-08-30-00',
    scope: 'sr',
    force: false,
    vms: [
      { ...base, uuid: VM(1), name: 'web-01', newNetworks: ['Production LAN'] },
      {
        ...base,
        uuid: VM(2),
        name: 'db-01',
        expectedError: 'VDI_CONTENT_ID_MISSING',
        missingDisks: [{ vdiUuid: VM(7), location: VM(7), srUuid: VM(8), vdiName: 'db-01 disk 0', srName: 'Replicated NFS', srInPool: false, attached: false }],
        newNetworks: ['Backend'],
      },
      { ...base, uuid: VM(3), name: 'tmpl', isTemplate: true, clash: { name: 'tmpl', powerState: 'Halted' } },
      { ...base, uuid: VM(4), name: '', file: `${VM(4)}.vmmeta`, error: 'the first entry is not ova.xml' },
    ],
    skipped: [],
    names: [{ kind: 'SR', uuid: SR.uuid, nameLabel: 'NFS storage', nameDescription: '' }],
    cleaned: [],
    counts: { exports: 4, vms: 2, templates: 1, unreadable: 1, skipped: 0, clashes: 1, missingDisks: 1, newNetworks: 2, expectedErrors: 1, namesToSet: 1 },
    networks: [],
    poolNetworks: [],
    macClashes: [],
    macPolicy: '',
  };
}

describe('restore summary', () => {
  it('lists restored VMs, errors with codes (what to do once per code), names and warnings', () => {
    const lines = summaryLines(report(), preflight(), new Date(2025, 5, 2, 9, 0, 0));
    const t = text(lines);
    expect(t.split('\n')[0]).toBe('Restored 1 VM(s), and 2 error(s)');
    expect(t).toContain('Finished 2025-06-02-09-00-00 in 1.2 s.');
    expect(t).toMatch(new RegExp(`Restored VMs \\(1\\):\\n  web-01 +${VM(1)}`));
    expect(t).toContain(`Errors (2):\n  db-01${' '.repeat(24)}${VM(2)}\n    VDI_CONTENT_ID_MISSING: A disk was not found.`);
    expect(t.match(/Rescan the SR\./g)).toHaveLength(1);
    expect(t).toContain('Skipped entries (1):\n  evil.vmmeta: not a <vm-uuid>.vmmeta name; ignored');
    expect(t).toContain(`SR and VDI names set (1 of 2):\n  0 already so (nothing sent), 1 not set.\n  SR  ${SR.uuid}  "NFS storage"\n  VDI ${VM(9)}  "gone": not set, no VDI ${VM(9)} in this pool`);
    // Network warnings only for VMs that were restored.
    expect(t).toContain(`web-01 (${VM(1)}) is on new internal network(s) for "Production LAN"`);
    expect(t).not.toContain('"Backend"');
    // A VM already here is told once: with the error of its failed import, not again as a warning.
    expect(t).toContain(`  db-02${' '.repeat(24)}${VM(3)}\n    VDI_CONTENT_ID_MISSING: Another disk was not found.\n    a VM with this uuid was already in this pool ("tmpl", Halted)\n`);
    expect(t.match(/already in this pool/g)).toHaveLength(1);
    expect(t).toContain('Warnings (1):');
    expect(summaryTitle(report())).toBe('Restore partly completed: 1 of 3 VMs restored, 2 failed');
    expect(summaryTitle(report({ restored: 0, errors: 3 }))).toBe('Metadata Restore Failed');
    expect(summaryTitle(report({ restored: 3, errors: 0 }))).toBe('Metadata Restore Completed');
    expect(summaryTitle(report({ restored: 1, errors: 2, dryRun: true }))).toBe('Dry run: 1 of 3 VMs would be restored, 2 would fail');
    // Error lines are marked for the alert colour.
    expect(lines.find((l) => typeof l !== 'string' && l.text.startsWith('Errors'))).toMatchObject({ alert: true, bold: true });
  });

  it('tells a clash once when the import went through, and counts VMs and templates as the preflight does', () => {
    const r = report({
      results: [
        { file: `${VM(1)}.vmmeta`, vmUuid: VM(1), name: 'web-01', kind: 'vm', ok: true, created: [{ uuid: VM(1), name: 'web-01' }] },
        { file: `${VM(3)}.vmmeta`, vmUuid: VM(3), name: 'tmpl', kind: 'template', ok: true, created: [{ uuid: VM(3), name: 'tmpl' }] },
        { file: `${VM(4)}.vmmeta`, vmUuid: VM(4), name: '', kind: 'unreadable', ok: false, created: [], error: { code: 'UNSAFE_BACKUP_FILE', params: [], meaning: 'the first entry is not ova.xml', nextStep: 'Try an older backup.' } },
      ],
      restored: 2,
      errors: 1,
      counts: { exports: 3, vms: 1, templates: 1, unreadable: 1, skipped: 1, restoredVms: 1, restoredTemplates: 1, namesSet: 1, namesUnchanged: 0, namesFailed: 1 },
    });
    const t = text(summaryLines(r, preflight(), new Date(2025, 5, 2)));
    expect(t).toContain('Of 3 VM exports (1 VM, 1 template, 1 unreadable): 1 VM and 1 template restored; 1 failed (1 unreadable, never sent); 1 other entry skipped.');
    expect(t).toContain(`tmpl (${VM(3)}): a VM with this uuid was already in this pool ("tmpl", Halted): replaced by the backup's.`);
    expect(t.match(/already in this pool/g)).toHaveLength(1);
    expect(t).toMatch(new RegExp(`tmpl +${VM(3)}  template`));
    expect(restoreText(r)).toContain('Of 3 VM exports (1 VM, 1 template, 1 unreadable): 1 VM and 1 template restored');
  });

  it('counts as set only the names that changed, in the summary and the CLI', () => {
    const names: RestoreReport['names'] = [
      { kind: 'SR', uuid: SR.uuid, nameLabel: 'NFS storage', nameDescription: '', applied: true },
      { kind: 'VDI', uuid: VM(8), nameLabel: 'same', nameDescription: '', applied: true, unchanged: true },
      { kind: 'VDI', uuid: VM(9), nameLabel: 'gone', nameDescription: '', applied: false, error: `no VDI ${VM(9)} in this pool` },
    ];
    const r = report({ names, counts: { ...report().counts, namesSet: 1, namesUnchanged: 1, namesFailed: 1 } });
    const t = text(summaryLines(r, null, new Date(2025, 5, 2)));
    expect(t).toContain(`SR and VDI names set (1 of 3):\n  1 already so (nothing sent), 1 not set.\n  SR  ${SR.uuid}  "NFS storage"\n  VDI ${VM(9)}  "gone": not set`);
    expect(t).not.toContain('"same"');
    const cli = restoreText(r);
    expect(cli).toContain('SR/VDI names: 1 set, 1 already so, 1 not set.');
    expect(cli).not.toContain(`Setting VDI (${VM(8)})`);
    expect(cli).toContain(`Setting SR (${SR.uuid}):`);
  });

  it('words a dry run as what would happen, and names the file after the time it ran', () => {
    const r = report({ dryRun: true, errors: 0, results: report().results.slice(0, 1), restored: 1, summary: restoreSummaryText(1, 0, true) });
    const t = text(summaryLines(r, preflight(), new Date(2025, 0, 31, 23, 59, 58)));
    expect(t.split('\n')[0]).toBe('Would restore 1 VM(s), and 0 error(s); nothing was changed');
    expect(t).not.toMatch(/Restored \d/);
    expect(restoreText(r)).toMatch(/Metadata Restore Completed \(Dry Run\)\nWould restore 1 VM\(s\), and 0 error\(s\); nothing was changed$/);
    expect(restoreText(report())).toMatch(/Restore partly completed: 1 of 3 VMs restored, 2 failed\nRestored 1 VM\(s\), and 2 error\(s\)$/);
    expect(t).toContain('Nothing was changed.');
    expect(t).toContain('VMs that would be restored (1):');
    expect(t).toContain('would be put on new internal network(s) for "Production LAN"');
    expect(summaryTitle(r)).toBe('Metadata Restore Completed (Dry Run)');
    expect(summaryFileName(r, new Date(2025, 0, 31, 23, 59, 58))).toBe('xsconsole-dr-restore-dry-run-2025-01-31-23-59-58.txt');
    expect(summaryFileName(report(), new Date(2025, 0, 31, 23, 59, 58))).toBe('xsconsole-dr-restore-2025-01-31-23-59-58.txt');
  });

  it('no longer warns of a new internal network the network map moved the VM off; a failed move still warns', () => {
    const p = preflight();
    p.vms[0] = { ...p.vms[0]!, newNetworks: ['Production LAN', 'Backup LAN'] };
    const to = { uuid: VM(6), name: 'DR LAN', bridge: 'xenbr1' };
    const move = (device: string, from: string, ok: boolean) => ({ vm: { uuid: VM(1), name: 'web-01' }, device, mac: `02:00:00:00:00:0${device}`, from: { name: from, bridge: 'xapi1' }, to, method: 'move' as const, ok });
    const mapped = (vifs: ReturnType<typeof move>[]) => report({ networkMap: { dryRun: false, map: [], vifs, removed: [], wouldNotCreate: [] } });
    const t = text(summaryLines(mapped([move('0', 'Production LAN', true), move('1', 'Backup LAN', false)]), p, new Date(2025, 5, 2, 9, 0, 0)));
    expect(t).toContain(`web-01 (${VM(1)}) is on new internal network(s) for "Backup LAN"`);
    expect(t).not.toContain('"Production LAN"');
    const all = text(summaryLines(mapped([move('0', 'Production LAN', true), move('1', 'Backup LAN', true)]), p, new Date(2025, 5, 2, 9, 0, 0)));
    expect(all).not.toContain('new internal network');
    expect(all).toContain('Warnings (0):\n  none');
  });

  it('says which leftovers of earlier runs it released before reading the VDI', () => {
    const vbd = '33333333-3333-4333-8333-333333333333';
    const t = text(summaryLines(report({ dryRun: true, cleaned: [{ kind: 'vbd', uuid: vbd, vm: 'Control domain on host: xs-1', ours: true, unplugged: true }] }), null, new Date(2025, 5, 2)));
    expect(t.split('\n').slice(0, 6)).toContain(`Released a killed run's VBD ${vbd} of the backup VDI on "Control domain on host: xs-1" (it was still plugged in).`);
    expect(text(summaryLines(report(), null, new Date(2025, 5, 2)))).not.toContain('Released');
  });

  it('says the VDI came from the legacy scan when it is not the trusted one', () => {
    const t = text(summaryLines(report({ vdi: { uuid: VDI.uuid, trusted: false } }), null, new Date()));
    expect(t).toContain(`Backup VDI: ${VDI.uuid} (found by the scan for older backups, not verified)`);
    expect(t).toContain('Warnings (0):\n  none');
  });
});

describe('preflight and lists', () => {
  it('shows counts, says the VMs come back halted, groups the problems by kind and names the SR of missing disks', () => {
    const t = plainText(preflightLines(preflight(), VDI));
    expect(t).toContain('Restore only the VMs on this SR from backup 2025-06-02-08-30-00');
    expect(t).toContain('4 VM exports: 2 VMs and 1 template to import (halted, keeping their uuids); 1 unreadable (never sent).');
    expect(t).toContain("The restored VMs will be halted: XAPI's metadata import creates them halted.");
    expect(t).toContain('Of these: 1 expected to fail, 1 already in this pool, 1 with disks not found here, 2 on networks not found here, 1 unreadable.');
    expect(t).toContain('Expected to fail: 1 (VDI_CONTENT_ID_MISSING: 1).');
    expect(t).toContain(`Unreadable exports, never sent to XAPI (1)\n  Check where the backup came from, or restore from an older backup.\n  ${VM(4)}.vmmeta: the first entry is not ova.xml`);
    expect(t).toContain(`Disks on SR "Replicated NFS" (${VM(8)}), which is not in this pool (1 VM)\n  The SR is not attached here (e.g. the replicated SR): attach it at this site`);
    expect(t).toContain(`  ${VM(2)}  db-01: db-01 disk 0`);
    expect(t).toContain(`Already here, halted (1 VM)\n  For each, a VM with this uuid is already here, halted: it is replaced only if the backup is newer`);
    expect(t).toContain(`Network "Production LAN" is not in this pool (1 VM)`);
    expect(t.split('\n').at(-1)).toBe('Press <F8> to restore now, or <Esc> to cancel.');
  });

  it('at many VMs: one group per kind (and SR), names in name order, a few per group on screen and all in the saved text and the CLI JSON', () => {
    const base = preflight().vms[0]!;
    const uuid = (n: number) => `bbbbbbbb-0000-4000-8000-${String(n).padStart(12, '0')}`;
    const disk = (n: number, srUuid: string, srName: string, srInPool: boolean) => ({ vdiUuid: uuid(1000 + n), location: 'l', srUuid, vdiName: `disk ${n}`, srName, srInPool, attached: false });
    // 30 VMs in uuid order whose names run the other way; every one has a disk on an SR not
    // attached here, the first 3 also one on a local SR that does not know its disk.
    const vms = Array.from({ length: 30 }, (_, i) => ({
      ...base,
      uuid: uuid(i),
      name: `vm-${String(30 - i).padStart(2, '0')}`,
      newNetworks: [],
      expectedError: 'VDI_CONTENT_ID_MISSING',
      missingDisks: [disk(i, VM(8), 'Replicated NFS', false), ...(i < 3 ? [disk(100 + i, SR.uuid, 'Local storage', true)] : [])],
    }));
    const p: PreflightReport = { ...preflight(), vms, counts: { exports: 30, vms: 30, templates: 0, unreadable: 0, skipped: 0, clashes: 0, missingDisks: 30, newNetworks: 0, expectedErrors: 30, namesToSet: 1 } };
    const screen = plainText(preflightLines(p, VDI));
    // Not one line per VM: two groups, 5 names each, in name order.
    expect(screen.split('\n').length).toBeLessThan(30);
    expect(screen).toContain(`Disks on SR "Replicated NFS" (${VM(8)}), which is not in this pool (30 VMs)`);
    expect(screen).toContain(`Disks not found on SR "Local storage" (${SR.uuid}), which is in this pool (3 VMs)\n  This SR does not know these disks: rescan it (xe sr-scan uuid=${SR.uuid})`);
    const replicated = screen.slice(screen.indexOf('Disks on SR "Replicated NFS"'));
    expect(replicated.split('\n').slice(2, 8)).toEqual([
      `  ${uuid(29)}  vm-01: disk 29`,
      `  ${uuid(28)}  vm-02: disk 28`,
      `  ${uuid(27)}  vm-03: disk 27`,
      `  ${uuid(26)}  vm-04: disk 26`,
      `  ${uuid(25)}  vm-05: disk 25`,
      '  ... and 25 more (all in the saved preflight)',
    ]);
    expect(screen).toContain('Expected to fail: 30 (VDI_CONTENT_ID_MISSING: 30).');
    // The saved text: every name, no key prompt.
    const saved = plainText(preflightLines(p, VDI, { full: true }));
    for (const v of vms) expect(saved).toContain(`  ${v.uuid}  ${v.name}: disk`);
    expect(saved).not.toContain('more (');
    expect(saved).not.toContain('<F8>');
    // The CLI: the same groups and counts, with its own bound; --json has every name.
    const cli = preflightText(p);
    expect(cli).toContain('30 VM exports: 30 VMs and 0 templates to import (halted, keeping their uuids).');
    expect(cli).toContain("The restored VMs will be halted: XAPI's metadata import creates them halted.");
    expect(cli).toContain('Of these: 30 expected to fail, 30 with disks not found here.');
    expect(cli).toContain('  ... and 20 more (--json lists all)');
    const groups = preflightGroups(p);
    expect(groups.map((g) => [g.kind, g.sr?.uuid, g.sr?.inPool, g.items.length])).toEqual([
      ['missing-disks', VM(8), false, 30],
      ['missing-disks', SR.uuid, true, 3],
    ]);
    expect(groups[0]!.items.map((i) => i.name)).toEqual([...vms.map((v) => v.name)].sort());
  });

  it('tells a forced preflight what force does with each kind', () => {
    const p = { ...preflight(), force: true };
    const t = plainText(preflightLines(p, VDI));
    expect(t).toContain('from backup 2025-06-02-08-30-00 (forced)');
    expect(t).toContain('A forced restore imports these VMs without the disks');
    expect(t).toContain('a forced restore replaces it.');
  });

  it('formats backup, method and VDI rows to fit the dialogue', () => {
    const b = { date: '2025-06-02-08-30-00', vms: 9, vmsOnSr: 1, skipped: 0, skippedOnSr: 0, hasSrMeta: false };
    expect(dateRow(b)).toBe('2025-06-02-08-30-00  9 VM exports, 1 on this SR, no SR/VDI names');
    expect(dateRow({ ...b, skipped: 2, hasSrMeta: true })).toBe('2025-06-02-08-30-00  9 VM exports, 1 on this SR, 2 other entries skipped');
    expect(methodRow({ label: 'Only VMs on This SR', scope: 'sr' }, b)).toBe(`${'Only VMs on This SR'.padEnd(32)}1 VM export`);
    const row = vdiRow({ uuid: VDI.uuid, nameLabel: 'Pool Metadata Backup', virtualSize: 1024 ** 3, trusted: true, attachedTo: [] });
    expect(row).toBe(`${VDI.uuid}   1.0 GiB  not attached`);
    const guests = [1, 2].map((i) => ({ uuid: `vm-${i}`, nameLabel: `guest ${i}`, controlDomain: false }));
    const used = vdiRow({ uuid: VDI.uuid, nameLabel: 'x', virtualSize: 64 * 1024 ** 2, trusted: false, attachedTo: guests });
    expect(used).toBe(`${VDI.uuid}    64 MiB  attached: 2 VMs`);
    expect(used.length).toBeLessThanOrEqual(65);
    // The chooser's details: whose disk it is; a guest's in the alert colour, the control
    // domain's (a tool's VBD left behind) not; a VM without a name by its uuid.
    const dom0 = { uuid: 'dom0-uuid', nameLabel: 'Control domain on host: h1', controlDomain: true };
    expect(vdiDetails({ uuid: VDI.uuid, nameLabel: '', virtualSize: 1, trusted: false, attachedTo: [dom0] })).toEqual([
      'Name: (no name)',
      { text: 'Attached to the control domain "Control domain on host: h1".', alert: false },
    ]);
    expect(vdiDetails({ uuid: VDI.uuid, nameLabel: 'n', virtualSize: 1, trusted: false, attachedTo: [...guests, { ...dom0, nameLabel: '' }] })[1]).toEqual({
      text: 'Attached to VM "guest 1", VM "guest 2", the control domain dom0-uuid.',
      alert: true,
    });
    expect(restoreFailureText({ kind: 'expected', code: 'NO_METADATA', meaning: 'Metadata backups not found on this VDI.', nextStep: 'Back up first.' })).toBe(
      'Metadata Restore failed: NO_METADATA: Metadata backups not found on this VDI.\n\nBack up first.',
    );
    expect(cancelledText(false, { done: 2, total: 5, errors: 1 })).toMatch(/^The restore was stopped with Ctrl-C after 2 of 5 VM\(s\) \(1 restored, 1 failed\)\./);
    expect(cancelledText(true, null)).toBe('The dry run was stopped with Ctrl-C. Nothing was changed in this pool.');
  });

  it('keeps the columns of lines that fit and wraps the others', () => {
    const rows = layoutLines(['a    b', { text: 'word '.repeat(20).trim(), alert: true }], 30);
    expect(rows[0]).toEqual({ text: 'a    b', alert: false, bold: false });
    expect(rows.slice(1).every((r) => r.alert && r.text.length <= 30)).toBe(true);
    expect(rows.length).toBeGreaterThan(3);
  });
});

describe('schedule texts', () => {
  const status = (over: Partial<ScheduleStatus>): ScheduleStatus => ({
    setting: 'never',
    entries: [],
    active: null,
    config: null,
    runner: { path: '/etc/xsconsole-dr/backup-metadata-cron', exists: false },
    sr: null,
    stateDir: '/var/lib/xsconsole-dr',
    lastResult: null,
    warnings: [],
    ...over,
  });
  const label = { uuid: SR.uuid, name: SR.name, isDefault: true };

  it('uses the stock prompts and results', () => {
    expect(schedulePrompt('never')).toBe('Scheduled Metadata Backups are currently disabled.  Please select the desired frequency:');
    expect(schedulePrompt('monthly')).toBe('Scheduled Metadata Backups are currently set to occur monthly.  Please select the desired frequency:');
    expect(scheduleSetMessage({ setting: 'never', previous: 'daily', link: null, runner: null, sr: null, removed: [] })).toBe('Metadata Backup Schedule successfully disabled');
    expect(scheduleSetMessage({ setting: 'daily', previous: 'never', link: '/etc/cron.daily/backup-metadata', runner: '/etc/xsconsole-dr/backup-metadata-cron', sr: null, removed: [] })).toMatch(
      /^Metadata Backup Schedule successfully changed to occur daily\.\n\nCron runs \/etc\/cron\.daily\/backup-metadata, which starts/,
    );
  });

  it('names the SR the scheduled backup uses, whoever wrote the schedule', () => {
    expect(srLine(status({}), label)).toBe(`A new schedule backs up to: SR "NFS storage" (${SR.uuid}), the pool's default SR.`);
    const ours = { frequency: 'daily' as const, path: '/etc/cron.daily/backup-metadata', kind: 'ours' as const, target: '/x' };
    expect(srLine(status({ setting: 'daily', active: ours, sr: SR.uuid }), { ...label, isDefault: false })).toBe(`Backs up to: SR "NFS storage" (${SR.uuid}).`);
    expect(srLine(status({ setting: 'daily', active: ours, sr: SR.uuid }), null)).toContain('which is not in this pool');
    expect(srLine(status({ setting: 'daily', active: { ...ours, kind: 'stock' } }), label)).toContain('as the stock runner (xe-backup-metadata -c) does');
    expect(srLine(status({ setting: 'daily', active: { ...ours, kind: 'other-link' } }), label)).toContain('unknown');
  });

  it('reports the last scheduled run, failures in the alert colour', () => {
    expect(lastRunLine(null)).toBe('Last scheduled backup: none recorded.');
    const base = { startedAt: '2025-06-02T01:00:00.000Z', finishedAt: '2025-06-02T01:00:05.000Z', requestedSr: null, sr: { uuid: SR.uuid, name: SR.name }, fellBackToDefaultSr: false, warnings: [] };
    const failed = lastRunLine({ ...base, status: 'failed', exitCode: 1, error: { code: 'SR_FULL', meaning: 'The SR is full.', nextStep: '' } });
    expect(failed).toMatchObject({ alert: true });
    expect(typeof failed !== 'string' && failed.text).toMatch(/^Last scheduled backup \(\d{4}-\d\d-\d\d \d\d:\d\d\) to SR "NFS storage" FAILED: SR_FULL: The SR is full\.$/);
    const backup = { date: '2025-06-02-01-00-00', vdi: VDI.uuid, vdiCreated: false, vmsExported: 5, templatesExported: 1, failureCount: 2, failures: [], backupsKept: 3, usedPercent: 4, access: 'attach', durationMs: 5000 };
    expect(lastRunLine({ ...base, status: 'partial', exitCode: 4, backup })).toMatchObject({ alert: true, text: expect.stringContaining('2 export(s) FAILED') });
    expect(lastRunLine({ ...base, status: 'ok', exitCode: 0, backup })).toMatch(/: backup 2025-06-02-01-00-00, 5 VM\(s\) and 1 template\(s\)\.$/);
  });
});

describe('flow', () => {
  it('closes every screen of the flow from its lowest one, whatever replaced what', () => {
    let stack: ScreenEntry[] = [{ id: 0, element: React.createElement('root') }, { id: 1, element: React.createElement('menu') }];
    let next = 2;
    const nav: Navigator = {
      push(element) {
        const id = next++;
        stack = stackReducer(stack, { type: 'push', entry: { id, element } });
        return id;
      },
      pop: () => (stack = stackReducer(stack, { type: 'pop' })),
      close: (id) => (stack = stackReducer(stack, { type: 'close', id })),
      replace(id, element) {
        const nid = next++;
        stack = stackReducer(stack, { type: 'replace', id, entry: { id: nid, element } });
        return nid;
      },
      popToRoot: () => (stack = stackReducer(stack, { type: 'popToRoot' })),
    };
    const flow = createFlow(nav);
    const picker = nav.push(React.createElement('picker'));
    const search = nav.replace(picker, React.createElement('search'));
    const leaveSearch = flow.join(search);
    const dates = nav.replace(search, React.createElement('dates'));
    leaveSearch();
    flow.join(dates);
    flow.join(nav.push(React.createElement('methods')));
    flow.join(nav.push(React.createElement('summary')));
    expect(stack).toHaveLength(5);
    flow.cancel();
    expect(stack.map((s) => s.id)).toEqual([0, 1]);
  });
});
