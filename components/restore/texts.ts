/**
 * The restore's texts: stock xsconsole wording where it has one
 * (plugins-base/XSFeatureDRRestore.py), and the preflight and summary screens it does not
 * have. Pure functions, tested without a terminal.
 */
import { failureLines } from '../services.js';
import type { BackupSummary, RestoreScope } from '../../src/dr/backup-source.js';
import { formatBackupDate } from '../../src/dr/layout.js';
import { formatBytes } from '../../src/dr/overview.js';
import { nameOutcome, restoreOutcomeTitle, type PreflightReport, type RestoreReport } from '../../src/dr/restore.js';
import { backupCountsText, plural, preflightGroupLines, restoreCountsText, vappsCountText, vappsLines } from '../../src/dr/restore-text.js';
import type { BackupVdiChoice, FailureText } from '../services.js';
import { cell, rcell } from '../text.js';
import type { TextLine } from '../dialogues/TextDialogue.js';
import { neutralise, oneLine } from '../../src/safe-text.js';
import { errorText } from '../../src/text-sinks.js';
import { cleanedText } from '../../src/dr/leftovers.js';
import { macClashLines, networkMapLines, networkTableLines } from '../../src/dr/network-map-text.js';

export const RESTORE_MENU_TITLE = 'Restore Virtual Machine Metadata';
export const RESTORE_STATUS_TEXT = 'Press <Enter> to restore Virtual Machine metadata from a Storage Repository.';
export const RESTORE_KEY_HELP = '<Enter> Restore';
export const RESTORE_PICKER_TITLE = 'Select Storage Repository to Restore From';
export const SEARCH_BANNER = 'Searching for backup VDI...\n\nCtrl-C to abort';
export const LEGACY_QUESTION =
  'A backup VDI could not be positively identified. Do you wish to scan for backup VDIs created with earlier versions ' +
  '(Warning: this operation should only be performed if you trust the contents of all VDIs in this storage repository)?';
/** Why the question matters (XSA-459): shown with the legacy question and the VDI chooser. */
export const LEGACY_RISK =
  'A guest can format one of its own disks to look like a metadata backup (XSA-459 / CVE-2024-31144); ' +
  'restoring from such a disk imports VMs and names of its choosing.';
export const VDI_CHOOSER_TITLE = 'Available Metadata VDIs';
export const VDI_CHOOSER_WARNING =
  'You should only restore metadata from a trustworthy VDI; loading untrustworthy metadata may put your system at risk';
export const LISTING_BANNER = 'Found VDI, retrieving available backups...';
export const DATES_TITLE = 'Available Metadata Backups';
export const DATES_LIST_TITLE = 'Select Metadata Backup to Restore From';
export const RESTORING_BANNER = 'Restoring VM Metadata. This may take a few minutes...';
export const PREFLIGHT_BANNER = 'Checking the backup against this pool...';
export const RESTORE_FAILED_PREFIX = 'Metadata Restore failed:';
export const METHOD_KEYS = '<Enter> Restore VMs  <Esc> Cancel  <Left> Back';
export const LIST_KEYS = '<Enter> OK  <Esc> Cancel  <Left> Back';
export const PREFLIGHT_KEYS = '<F8> Restore  <Esc> Cancel  <Left> Back';
export const SUMMARY_KEYS = '<Enter> OK  <S> Save  <Left> Back';
export const UNTRUSTED_VDI_NOTE =
  'This VDI was found by the scan for backups made before 2024, not by its uuid: only restore from it if you trust every disk on this SR.';

export function methodTitle(date: string): string {
  return `Restore Backup from ${neutralise(date)}`;
}

export function methodListTitle(date: string): string {
  return `Select the set of VMs to restore from ${neutralise(date)}`;
}

export interface RestoreMethod {
  scope: RestoreScope;
  dryRun: boolean;
}

/** The four stock choices, in stock order. */
export const RESTORE_METHODS: ReadonlyArray<RestoreMethod & { label: string }> = [
  { label: 'Only VMs on This SR', scope: 'sr', dryRun: false },
  { label: 'All VM Metadata', scope: 'all', dryRun: false },
  { label: 'Only VMs on This SR (Dry Run)', scope: 'sr', dryRun: true },
  { label: 'All VM Metadata (Dry Run)', scope: 'all', dryRun: true },
];

/** A method row with the number of VM exports (VMs and templates) it would import. */
export function methodRow(m: { label: string; scope: RestoreScope }, b: BackupSummary): string {
  return `${m.label.padEnd(32)}${plural(m.scope === 'sr' ? b.vmsOnSr : b.vms, 'VM export')}`;
}

/** A backup's row: its exports counted as the preflight and the summary count them. */
export function dateRow(b: BackupSummary): string {
  return `${neutralise(b.date)}  ${backupCountsText(b)}${b.hasSrMeta ? '' : ', no SR/VDI names'}`;
}

/** uuid, size, whether a VM uses the disk; the chooser shows the whole name and the VMs below. */
export function vdiRow(v: BackupVdiChoice): string {
  const used = v.attachedTo.length === 0 ? 'not attached' : `attached: ${plural(v.attachedTo.length, 'VM')}`;
  return `${neutralise(v.uuid)}  ${rcell(formatBytes(v.virtualSize), 8)}  ${used}`;
}

export function scopeText(scope: RestoreScope): string {
  return scope === 'sr' ? 'only the VMs on this SR' : 'all VM metadata';
}

function vdiText(vdi: { uuid: string; trusted: boolean }): string {
  return `Backup VDI: ${neutralise(vdi.uuid)} (${vdi.trusted ? "this SR's backup VDI" : 'found by the scan for older backups, not verified'})`;
}

/** "Metadata Restore failed: CODE: meaning" and the next step. */
export function restoreFailureText(f: FailureText, prefix = RESTORE_FAILED_PREFIX): string {
  // The operator text every front end shows (src/app/operator-failure.ts), after this screen's title.
  const [what, next] = failureLines(f);
  return `${prefix} ${what}\n\n${next}`;
}

/** A VM's row: its name (from the backup or this pool) neutralised, then cut to its column. */
function vmHeading(v: { name: string; uuid: string }): string {
  return `  ${cell(v.name ? neutralise(v.name) : '(no name)', 28)} ${neutralise(v.uuid)}`;
}

/** Names per group the preflight screen shows; the saved preflight has them all. */
export const PREFLIGHT_NAMES_SHOWN = 5;

export interface PreflightLinesOptions {
  /** All names of every group and no key prompt: the text to save. Default: the screen's. */
  full?: boolean;
}

/**
 * The preflight: counts, that the VMs come back halted, then the problems grouped by kind
 * and VM name (src/dr/restore-text.ts, as the CLI prints them). The screen shows a few
 * names per group; `full` gives the saved text, with every name.
 */
export function preflightLines(p: PreflightReport, vdi: { uuid: string; trusted: boolean }, opts: PreflightLinesOptions = {}): TextLine[] {
  const lines: TextLine[] = [
    { text: `Restore ${scopeText(p.scope)} from backup ${neutralise(p.date)}${p.force ? ' (forced)' : ''}`, bold: true },
    `SR "${neutralise(p.sr.name || p.sr.uuid)}" (${neutralise(p.sr.uuid)})`,
    { text: vdiText(vdi), alert: !vdi.trusted },
    ...p.cleaned.map(cleanedText),
    '',
  ];
  lines.push(...preflightGroupLines(p, { namesPerGroup: opts.full ? Infinity : PREFLIGHT_NAMES_SHOWN, moreHint: 'all in the saved preflight' }));
  lines.push('', ...networkTableLines(p.networks));
  if (!opts.full && p.networks.length > 0) lines.push(NETWORK_MAP_OFFER);
  lines.push(...macClashLines(p.macClashes, p.macPolicy, opts.full ? Infinity : PREFLIGHT_NAMES_SHOWN));
  if (!opts.full) lines.push('', { text: 'Press <F8> to restore now, or <Esc> to cancel.', bold: true });
  return lines;
}

export const NETWORK_MAP_OFFER = 'Press <N> to move the VIFs of a source network to a network of this pool after the restore.';

/** Default file name for a saved preflight (`preflightLines(p, vdi, { full: true })`): the time it ran. */
export function preflightFileName(at: Date): string {
  return `xsconsole-dr-preflight-${formatBackupDate(at)}.txt`;
}

export function summaryTitle(r: RestoreReport): string {
  return restoreOutcomeTitle(r);
}

/** "SR and VDI names set (3 of 9):": only real changes count as set. */
export function namesCountText(r: RestoreReport): string {
  return `SR and VDI names ${r.dryRun ? 'that would be set' : 'set'} (${r.counts.namesSet} of ${r.names.length}):`;
}

/**
 * The summary after a restore: restored VMs (name, uuid), errors with their codes, the
 * SR/VDI names set, and the warnings the preflight found (networks that were or would be
 * created as internal networks, VMs that were already in the pool). A VM already here is
 * told once: with its error when its import failed, else among the warnings.
 */
export function summaryLines(r: RestoreReport, p: PreflightReport | null, finishedAt: Date): TextLine[] {
  const dry = r.dryRun;
  const lines: TextLine[] = [
    { text: oneLine(r.summary), bold: true, alert: r.errors > 0 },
    restoreCountsText(r),
    `Backup ${neutralise(r.date)} on SR "${neutralise(r.sr.name || r.sr.uuid)}" (${neutralise(r.sr.uuid)}), ${scopeText(r.scope)}`,
    { text: vdiText(r.vdi), alert: !r.vdi.trusted },
    `${dry ? 'Checked' : 'Finished'} ${formatBackupDate(finishedAt)} in ${(r.durationMs / 1000).toFixed(1)} s.${dry ? ' Nothing was changed.' : ' The restored VMs are halted.'}`,
    // Leftovers of earlier runs released before the backup VDI was read (even by a dry run).
    ...r.cleaned.map(cleanedText),
    '',
  ];
  const clashes = new Map((p?.vms ?? []).filter((v) => v.clash && !v.error).map((v) => [v.uuid, v.clash!]));
  const ok = r.results.filter((x) => x.ok);
  lines.push({ text: `${dry ? 'VMs that would be restored' : 'Restored VMs'} (${ok.length}):`, bold: true });
  if (!ok.length) lines.push('  none');
  for (const x of ok) {
    const main = x.created.find((c) => c.uuid === x.vmUuid);
    const extra = x.created.length > 1 ? `  +${x.created.length - 1}` : '';
    lines.push(`${vmHeading({ name: main?.name || x.name, uuid: x.vmUuid })}${x.kind === 'template' ? '  template' : ''}${extra}`);
  }
  const failed = r.results.filter((x) => !x.ok);
  if (failed.length) {
    lines.push('', { text: `Errors (${failed.length}):`, bold: true, alert: true });
    // What to do, once per code: many VMs often fail the same way.
    const nextSteps = new Map<string, string>();
    for (const x of failed) {
      const e = x.error!;
      lines.push({ text: vmHeading({ name: x.name || x.file, uuid: x.vmUuid }), alert: true }, { text: `    ${errorText(e.code)}: ${errorText(e.meaning)}`, alert: true });
      const clash = clashes.get(x.vmUuid);
      if (clash) lines.push({ text: `    ${clashText(clash, 'failed')}`, alert: true });
      if (e.nextStep && !nextSteps.has(e.code)) nextSteps.set(e.code, e.nextStep);
    }
    if (nextSteps.size) {
      lines.push('', { text: 'What to do:', bold: true });
      for (const [code, step] of nextSteps) lines.push(`  ${errorText(code)}: ${errorText(step)}`);
    }
  }
  if (r.networkMap) lines.push('', ...networkMapLines(r.networkMap).map((t) => ({ text: t, alert: / failed, |^Could not /.test(t) })));
  if (r.skipped.length) {
    lines.push('', { text: `Skipped entries (${r.skipped.length}):`, bold: true, alert: true });
    for (const s of r.skipped) lines.push({ text: `  ${neutralise(s.name)}: ${oneLine(s.reason)}`, alert: true });
  }
  lines.push('', { text: namesCountText(r), bold: true });
  if (!r.names.length) lines.push('  none (the backup has no SR/VDI names for this scope)');
  const { namesUnchanged, namesFailed } = r.counts;
  if (namesUnchanged || namesFailed) lines.push(`  ${namesUnchanged} already so (nothing sent), ${namesFailed} not set.`);
  // Only the names that changed (or failed): those already so are counted above.
  for (const n of r.names) {
    const outcome = nameOutcome(n);
    if (outcome === 'unchanged') continue;
    const row = `  ${n.kind.padEnd(3)} ${neutralise(n.uuid)}  "${neutralise(n.nameLabel)}"`;
    lines.push(outcome === 'failed' ? { text: `${row}: not set, ${errorText(n.error!)}`, alert: true } : row);
  }
  lines.push('', { text: vappsCountText(r.vapps), bold: true, alert: r.vapps.vapps.some((a) => a.action === 'failed') || r.vapps.warnings.length > 0 }, ...vappsLines(r.vapps));
  const warnings = summaryWarnings(r, p);
  lines.push('', { text: `Warnings (${warnings.length}):`, bold: true, alert: warnings.length > 0 });
  if (!warnings.length) lines.push('  none');
  for (const w of warnings) lines.push({ text: `  ${w}`, alert: true });
  return lines;
}

/** A VM already here, told once: with a failed import's error, or what became of it. */
function clashText(clash: { name: string; powerState: string }, imported: 'failed' | 'restored' | 'dry-run'): string {
  const was = `a VM with this uuid was already in this pool ("${neutralise(clash.name)}", ${neutralise(clash.powerState)})`;
  if (imported === 'failed') return was;
  const halted = clash.powerState === 'Halted';
  if (imported === 'dry-run') return `${was}: it would be ${halted ? "replaced by the backup's" : 'left as it is, not imported'}.`;
  return `${was}: ${halted ? "replaced by the backup's" : 'left as it was, not imported'}.`;
}

function summaryWarnings(r: RestoreReport, p: PreflightReport | null): string[] {
  if (!p) return [];
  const out: string[] = [];
  const outcome = new Map(r.results.map((x) => [x.vmUuid, x.ok]));
  // A source network the map moved every VIF of this VM off (or would): the VM is no longer on its internal network.
  const movedOff = (vm: string, net: string) => {
    const vifs = r.networkMap?.vifs.filter((x) => x.vm.uuid === vm && x.from.name === net) ?? [];
    return vifs.length > 0 && vifs.every((x) => x.ok);
  };
  for (const v of p.vms) {
    if (v.error) continue;
    const name = `${neutralise(v.name || v.file)} (${neutralise(v.uuid)})`;
    const restored = outcome.get(v.uuid) === true;
    const newNetworks = v.newNetworks.filter((n) => !movedOff(v.uuid, n));
    if (newNetworks.length && restored) {
      const nets = newNetworks.map((n) => `"${neutralise(n)}"`).join(', ');
      out.push(
        r.dryRun
          ? `${name} would be put on new internal network(s) for ${nets}, not found in this pool.`
          : `${name} is on new internal network(s) for ${nets}, not found in this pool: connect it to a real network before starting it.`,
      );
    }
    // A failed import told its clash with its error; only an import that went through is told here.
    if (v.clash && restored) out.push(`${name}: ${clashText(v.clash, r.dryRun ? 'dry-run' : 'restored')}`);
  }
  return out;
}

/** Default file name for a saved summary: the time of the restore, never the same twice in a second. */
export function summaryFileName(r: RestoreReport, finishedAt: Date): string {
  return `xsconsole-dr-restore-${r.dryRun ? 'dry-run-' : ''}${formatBackupDate(finishedAt)}.txt`;
}
