/**
 * The comparison of a backup with the pool as text, one wording for the CLI and the console:
 * the groups by status with their counts and what a restore does with each, a VM's line and
 * its differences. Names are neutralised here; sinks guard the rest.
 */
import { COMPARE_STATUSES, type BackupComparison, type CompareField, type CompareStatus, type ComparedVm, type VmDifference } from './backup-compare.js';
import { neutralise } from '../safe-text.js';

export const STATUS_TEXT: Record<CompareStatus, { title: string; restore: string }> = {
  missing: { title: 'Missing here', restore: 'a restore creates them' },
  newerHere: { title: 'Newer here', restore: "restored here since; a restore refuses them unless forced (VM_TO_IMPORT_IS_NOT_NEWER_VERSION)" },
  olderHere: { title: 'Older here', restore: 'the backup is newer; a restore replaces them if halted' },
  changed: { title: 'Changed', restore: 'same version, other facts; a restore refuses them unless forced' },
  same: { title: 'Same', restore: 'a restore refuses them unless forced' },
};

export const ONLY_HERE_TITLE = 'Only in this pool';

const FIELD_TEXT: Record<CompareField, string> = { name: 'name', template: 'kind', vcpus: 'vCPUs', memory: 'memory', disks: 'disks', networks: 'networks' };

/** "name: backup "a" → here "b"". */
export function differenceText(d: VmDifference): string {
  return `${FIELD_TEXT[d.field]}: backup ${neutralise(d.backup)} → here ${neutralise(d.pool)}`;
}

export function vmLine(v: Pick<ComparedVm, 'uuid' | 'backup'>): string {
  return `${neutralise(v.backup.name || '(no name)')}${v.backup.isTemplate ? ' (template)' : ''}  ${neutralise(v.uuid)}`;
}

/** One line of counts, e.g. "3 missing here, 1 changed, 12 same; 2 only in this pool". */
export function compareCountsText(c: BackupComparison): string {
  const parts = COMPARE_STATUSES.filter((s) => c.counts[s] > 0).map((s) => `${c.counts[s]} ${STATUS_TEXT[s].title.toLowerCase()}`);
  const extra = [c.counts.onlyHere ? `${c.counts.onlyHere} ${ONLY_HERE_TITLE.toLowerCase()}` : '', c.counts.unreadable ? `${c.counts.unreadable} unreadable` : ''].filter(Boolean);
  return `${parts.join(', ') || 'no VMs in the backup'}${extra.length ? `; ${extra.join(', ')}` : ''}`;
}

/** The whole comparison, every VM and difference (the CLI's text). */
export function compareLines(c: BackupComparison): string[] {
  const out = [`Backup ${neutralise(c.date)} on SR ${neutralise(c.sr.name)} (${neutralise(c.sr.uuid)}) beside this pool: ${compareCountsText(c)}`];
  for (const s of COMPARE_STATUSES) {
    const vms = c.vms.filter((v) => v.status === s);
    if (!vms.length) continue;
    out.push('', `${STATUS_TEXT[s].title} (${vms.length}): ${STATUS_TEXT[s].restore}`);
    for (const v of vms) {
      out.push(`  ${vmLine(v)}`);
      for (const d of v.differences) out.push(`      ${differenceText(d)}`);
    }
  }
  if (c.onlyHere.length) {
    out.push('', `${ONLY_HERE_TITLE} (${c.onlyHere.length}): not in this backup`);
    for (const v of c.onlyHere) out.push(`  ${vmLine({ uuid: v.uuid, backup: v })}`);
  }
  if (c.unreadable.length) {
    out.push('', `Unreadable exports (${c.unreadable.length}): a restore reports them as failed`);
    for (const u of c.unreadable) out.push(`  ${neutralise(u.file)}: ${neutralise(u.error)}`);
  }
  return out;
}
