/**
 * Restore texts the CLI and the console share, so both give the same counts and groups:
 * a backup's exports as listed, a restore's counts, and the preflight's findings grouped by
 * kind, then by VM name: at 2000 VMs one line per VM in
 * uuid order is thousands of lines, while the problems are a handful of kinds (an SR not
 * attached yet, VMs already here, a network missing). Shared by the CLI and the console, so
 * both give the same groups and counts; the console shows a bounded number of names per
 * group, the saved text and --json all of them.
 */
import { neutralise, oneLine } from '../safe-text.js';
import { errorText } from '../text-sinks.js';
import type { BackupSummary } from './backup-source.js';
import type { PreflightReport, PreflightVm, RestoreReport } from './restore.js';
import type { VappAction, VappsRestoreReport } from './vapps.js';

export type PreflightGroupKind = 'unreadable' | 'missing-disks' | 'clash-running' | 'clash-halted' | 'new-network' | 'skipped';

export interface PreflightGroupItem {
  /** Empty for a skipped entry whose name holds no uuid. */
  uuid: string;
  /** The VM's name in the backup (the file name when it could not be read). */
  name: string;
  /** missing-disks: the disks of this VM on the group's SR (name, else uuid). */
  disks?: Array<{ name: string; attached: boolean }>;
  /** clash: the name of the VM already here, when it differs. */
  hereAs?: string;
  /** unreadable: the export's file (its name is empty when it could not be read). */
  file?: string;
  /** unreadable, skipped: why. */
  reason?: string;
}

export interface PreflightGroup {
  kind: PreflightGroupKind;
  /** missing-disks: the SR that holds the disks (name from this pool, else from the backup). */
  sr?: { uuid: string; name: string; inPool: boolean };
  /** new-network: the network's name in the backup. */
  network?: string;
  /** Sorted by name, then uuid. */
  items: PreflightGroupItem[];
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
/** By name (code point order: the same on every host), then file, then uuid. */
const byName = (a: PreflightGroupItem, b: PreflightGroupItem) => cmp(a.name, b.name) || cmp(a.file ?? '', b.file ?? '') || cmp(a.uuid, b.uuid);

/** Groups in the order an operator deals with them: what cannot be read, then storage, VMs here, networks. */
export function preflightGroups(p: PreflightReport): PreflightGroup[] {
  const groups: PreflightGroup[] = [];
  const sent = p.vms.filter((v) => !v.error);
  const unreadable = p.vms.filter((v) => v.error).map((v) => ({ uuid: v.uuid, name: v.name, file: v.file, reason: v.error! }));
  if (unreadable.length) groups.push({ kind: 'unreadable', items: unreadable.sort(byName) });

  const bySr = new Map<string, PreflightGroup>();
  for (const v of sent) {
    const disks = new Map<string, PreflightVm['missingDisks']>();
    for (const d of v.missingDisks) disks.set(d.srUuid, [...(disks.get(d.srUuid) ?? []), d]);
    for (const [srUuid, ds] of disks) {
      const g = bySr.get(srUuid) ?? { kind: 'missing-disks' as const, sr: { uuid: srUuid, name: ds[0]!.srName, inPool: ds[0]!.srInPool }, items: [] };
      bySr.set(srUuid, g);
      g.items.push({ uuid: v.uuid, name: v.name, disks: ds.map((d) => ({ name: d.vdiName || d.vdiUuid, attached: d.attached })) });
    }
  }
  // SRs not attached here first: attaching one usually settles most of the list.
  const srGroups = [...bySr.values()].sort((a, b) => Number(a.sr!.inPool) - Number(b.sr!.inPool) || cmp(a.sr!.name, b.sr!.name));
  for (const g of srGroups) groups.push({ ...g, items: g.items.sort(byName) });

  const clash = (running: boolean) =>
    sent
      .filter((v) => v.clash && (v.clash.powerState !== 'Halted') === running)
      .map((v) => ({ uuid: v.uuid, name: v.name, ...(v.clash!.name !== v.name && { hereAs: v.clash!.name }) }))
      .sort(byName);
  const running = clash(true);
  const halted = clash(false);
  if (running.length) groups.push({ kind: 'clash-running', items: running });
  if (halted.length) groups.push({ kind: 'clash-halted', items: halted });

  const byNet = new Map<string, PreflightGroupItem[]>();
  for (const v of sent) for (const n of v.newNetworks) byNet.set(n, [...(byNet.get(n) ?? []), { uuid: v.uuid, name: v.name }]);
  for (const n of [...byNet.keys()].sort()) groups.push({ kind: 'new-network', network: n, items: byNet.get(n)!.sort(byName) });

  if (p.skipped.length) groups.push({ kind: 'skipped', items: p.skipped.map((s) => ({ uuid: '', name: s.name, reason: s.reason })).sort(byName) });
  return groups;
}

/** A line of a report: plain, or marked for the console's alert colour / bold. */
export type ReportLine = string | { text: string; alert?: boolean; bold?: boolean };

/** "1 VM", "2,000 VMs". */
export const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

/** A listed backup's counts: exports as a restore reads them (the preflight's and summary's total). */
export function backupCountsText(b: BackupSummary): string {
  return `${plural(b.vms, 'VM export')}, ${b.vmsOnSr.toLocaleString('en-US')} on this SR${b.skipped ? `, ${b.skipped} other ${b.skipped === 1 ? 'entry' : 'entries'} skipped` : ''}`;
}

/** A restore's VMs and templates, counted as list and preflight count them. */
export function restoreCountsText(r: RestoreReport): string {
  const c = r.counts;
  const held = `${plural(c.vms, 'VM')}, ${plural(c.templates, 'template')}${c.unreadable ? `, ${c.unreadable} unreadable` : ''}`;
  const restored = `${plural(c.restoredVms, 'VM')} and ${plural(c.restoredTemplates, 'template')} ${r.dryRun ? 'would be restored' : 'restored'}`;
  const failed = r.errors ? `; ${r.errors} ${r.dryRun ? 'would fail' : 'failed'}${c.unreadable ? ` (${c.unreadable} unreadable, never sent)` : ''}` : '';
  const skipped = c.skipped ? `; ${plural(c.skipped, 'other entry', 'other entries')} skipped` : '';
  return `Of ${plural(c.exports, 'VM export')} (${held}): ${restored}${failed}${skipped}.`;
}

function srText(sr: NonNullable<PreflightGroup['sr']>): string {
  return `SR ${sr.name ? `"${neutralise(sr.name)}" ` : ''}(${neutralise(sr.uuid)})`;
}

/** A group's heading (with its count) and what to do about it. */
function groupHeading(g: PreflightGroup, force: boolean): { title: string; advice: string; alert: boolean } {
  const n = g.items.length;
  switch (g.kind) {
    case 'unreadable':
      return { title: `Unreadable exports, never sent to XAPI (${n})`, advice: 'Check where the backup came from, or restore from an older backup.', alert: true };
    case 'missing-disks': {
      const sr = g.sr!;
      const fate = force
        ? 'A forced restore imports these VMs without the disks (one attached when exported still fails).'
        : 'Without force their imports fail; a forced restore imports them without the disks.';
      return sr.inPool
        ? {
            title: `Disks not found on ${srText(sr)}, which is in this pool (${plural(n, 'VM')})`,
            advice: `This SR does not know these disks: rescan it (xe sr-scan uuid=${neutralise(sr.uuid)}) and check again. ${fate}`,
            alert: !force,
          }
        : {
            title: `Disks on ${srText(sr)}, which is not in this pool (${plural(n, 'VM')})`,
            advice: `The SR is not attached here (e.g. the replicated SR): attach it at this site, then check again. ${fate}`,
            alert: !force,
          };
    }
    case 'clash-running':
      return {
        title: `Already here and not halted (${plural(n, 'VM')})`,
        advice: force
          ? 'For each, a VM with this uuid is already here and not halted: a forced restore leaves it as it is, not imported.'
          : 'For each, a VM with this uuid is already here and not halted: its import fails (VM_BAD_POWER_STATE); a forced restore leaves it as it is.',
        alert: !force,
      };
    case 'clash-halted':
      return {
        title: `Already here, halted (${plural(n, 'VM')})`,
        advice: force
          ? 'For each, a VM with this uuid is already here, halted: a forced restore replaces it.'
          : "For each, a VM with this uuid is already here, halted: it is replaced only if the backup is newer (else VM_TO_IMPORT_IS_NOT_NEWER_VERSION); a forced restore replaces it.",
        alert: !force,
      };
    case 'new-network':
      return {
        title: `Network "${neutralise(g.network)}" is not in this pool (${plural(n, 'VM')})`,
        advice: 'These VMs are put on a new internal network of that name: connect them to a real network before starting them.',
        alert: false,
      };
    case 'skipped':
      return { title: `Entries that are no export, skipped (${n})`, advice: 'They are never read.', alert: true };
  }
}

/** What is particular to one VM of a group; names neutralised, reasons one line. */
function itemDetail(it: PreflightGroupItem): string {
  if (it.reason !== undefined) return `: ${errorText(it.reason)}`;
  if (it.disks) return `: ${it.disks.map((d) => `${neutralise(d.name)}${d.attached ? ' (attached)' : ''}`).join(', ')}`;
  if (it.hereAs !== undefined) return ` (here as "${neutralise(it.hereAs)}")`;
  return '';
}

/** "12 SR/VDI names to set (5 already so, 3 not in this pool)". */
function namesToSetText(p: PreflightReport): string {
  const unchanged = p.names.filter((n) => n.unchanged && !n.error).length;
  const absent = p.names.filter((n) => n.error).length;
  const notes = [...(unchanged ? [`${unchanged} already so`] : []), ...(absent ? [`${absent} not in this pool`] : [])];
  return `${plural(p.counts.namesToSet, 'SR/VDI name')} to set${notes.length ? ` (${notes.join(', ')})` : ''}.`;
}

export interface GroupLinesOptions {
  /** Names shown per group (Infinity: all). */
  namesPerGroup: number;
  /** Where the rest are, after "... and N more". */
  moreHint: string;
}

/**
 * The preflight's counts and groups as lines (no heading, no keys): what is imported and
 * how, that the VMs come back halted, the expected XAPI errors, then each group.
 */
export function preflightGroupLines(p: PreflightReport, opts: GroupLinesOptions): ReportLine[] {
  const c = p.counts;
  const others = [...(c.unreadable ? [`${c.unreadable} unreadable (never sent)`] : []), ...(c.skipped ? [`${plural(c.skipped, 'other entry', 'other entries')} skipped`] : [])];
  const lines: ReportLine[] = [
    `${plural(c.exports, 'VM export')}: ${plural(c.vms, 'VM')} and ${plural(c.templates, 'template')} to import (halted, keeping their uuids)${others.length ? `; ${others.join('; ')}` : ''}.`,
  ];
  const warn: string[] = [];
  if (c.expectedErrors) warn.push(`${c.expectedErrors} expected to fail`);
  if (c.clashes) warn.push(`${c.clashes} already in this pool`);
  if (c.missingDisks) warn.push(`${c.missingDisks} with disks not found here`);
  if (c.newNetworks) warn.push(`${c.newNetworks} on networks not found here`);
  if (c.unreadable) warn.push(`${c.unreadable} unreadable`);
  if (warn.length) lines.push({ text: `Of these: ${warn.join(', ')}.`, alert: c.expectedErrors + c.unreadable > 0 });
  lines.push(
    "The restored VMs will be halted: XAPI's metadata import creates them halted. Start them once their disks and networks are checked.",
    namesToSetText(p),
  );
  const expected = new Map<string, number>();
  for (const v of p.vms) if (v.expectedError && !v.error) expected.set(v.expectedError, (expected.get(v.expectedError) ?? 0) + 1);
  if (expected.size) {
    const each = [...expected].sort((a, b) => b[1] - a[1]).map(([code, n]) => `${oneLine(code)}: ${n}`);
    lines.push({ text: `Expected to fail: ${c.expectedErrors} (${each.join('; ')}).`, alert: true });
  }
  const groups = preflightGroups(p);
  if (!groups.length) lines.push('No clashes, missing disks, unknown networks or unreadable exports were found.');
  for (const g of groups) {
    const h = groupHeading(g, p.force);
    lines.push('', { text: h.title, bold: true, alert: h.alert }, `  ${h.advice}`);
    const shown = g.items.slice(0, opts.namesPerGroup);
    for (const it of shown) {
      // An export that could not be read has no name: its file says which it is.
      const who = !it.name && it.file ? neutralise(it.file) : it.uuid ? `${neutralise(it.uuid)}  ${neutralise(it.name) || '(no name)'}` : neutralise(it.name);
      lines.push(`  ${who}${itemDetail(it)}`);
    }
    if (g.items.length > shown.length) lines.push(`  ... and ${(g.items.length - shown.length).toLocaleString('en-US')} more (${opts.moreHint})`);
  }
  return lines;
}

const VAPP_ACTION_TEXT: Record<VappAction, string> = {
  created: 'recreated',
  reused: 'reused',
  'would-create': 'would be recreated',
  'would-reuse': 'would be reused',
  failed: 'failed',
};

/** "vApps: 2 recreated (5 VMs), 1 reused (2 VMs)": the summary's one line about vApps. */
export function vappsCountText(v: VappsRestoreReport): string {
  switch (v.state) {
    case 'absent':
      return 'vApps: none in this backup (it records none: made by the stock scripts or an older version).';
    case 'ignored':
      return "vApps: not recreated (the backup's vApp file was ignored).";
    case 'unsupported':
      return 'vApps: cannot be recreated on this pool (it has no vApps: XenAPI before 1.9).';
    case 'read':
      break;
  }
  if (!v.vapps.length) return 'vApps: none with restored VMs.';
  const parts: string[] = [];
  for (const action of Object.keys(VAPP_ACTION_TEXT) as VappAction[]) {
    const these = v.vapps.filter((a) => a.action === action);
    if (!these.length) continue;
    const vms = these.reduce((n, a) => n + a.members, 0);
    parts.push(`${these.length} ${VAPP_ACTION_TEXT[action]}${action === 'failed' ? '' : ` (${plural(vms, 'VM')})`}`);
  }
  return `vApps: ${parts.join(', ')}.`;
}

/** Each vApp's outcome (names neutralised, errors one line per part), then the warnings. */
export function vappsLines(v: VappsRestoreReport): ReportLine[] {
  const lines: ReportLine[] = [];
  for (const a of v.vapps) {
    const who = `"${neutralise(a.name)}" (${neutralise(a.uuid)})`;
    const here = a.hereUuid && a.hereUuid !== a.uuid ? ` as ${neutralise(a.hereUuid)}` : '';
    const members = `${a.members} of ${plural(a.restoredMembers, 'restored VM')}`;
    if (a.action === 'failed') {
      lines.push({ text: `  ${who}: failed${a.hereUuid ? `${here}, ${members} placed` : ''}`, alert: true });
      if (a.error) {
        lines.push({ text: `    ${errorText(a.error.code)}: ${errorText(a.error.meaning)}${a.error.vm ? ` (VM ${neutralise(a.error.vm)})` : ''}`, alert: true });
        lines.push(`    ${errorText(a.error.nextStep)}`);
      }
    } else {
      lines.push(`  ${who}: ${VAPP_ACTION_TEXT[a.action]}${here}, ${members} with their order and delays`);
    }
    if (a.note) lines.push(`    ${oneLine(a.note)}`);
  }
  for (const w of v.warnings) lines.push({ text: `  ${errorText(w)}`, alert: true });
  return lines;
}
