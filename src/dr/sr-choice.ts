/**
 * Which SRs a feature may use: the domain's rule behind every SR picker (xsconsole's
 * SRDialogue 'mode' and 'capabilities'), pure so it is tested without a pool.
 */
import type { PbdRecord, Ref } from '../xenapi/index.js';
import { NO_SR_BACKUP, srSummary, type SrBackup, type SrSummary, type SrSummaryRecord } from './overview.js';

/**
 * An SR as the SR picker lists it: the overview's summary without its operations, and
 * whether it holds a backup VDI (and what its record says), so the operator sees where the
 * backups are and how full they are before choosing.
 */
export type SrChoice = Omit<SrSummary, 'allowedOperations'> & { backup: SrBackup };

/**
 * Which SRs a feature can use (xsconsole's SRDialogue 'mode' and 'capabilities'):
 * 'rw' leaves out ISO libraries; `capability` must be in the SR's allowed_operations.
 */
export interface SrFilter {
  mode: 'rw' | 'any';
  capability?: string;
}

export interface SrChoiceInput {
  srs: ReadonlyMap<Ref, SrSummaryRecord>;
  pbds: ReadonlyMap<Ref, Pick<PbdRecord, 'SR' | 'host'>>;
  /** The host the session runs on; SRs are visible when they have a PBD here or none. */
  thisHost: string;
  defaultSr: string;
}

/** The SRs a feature can use, sorted by name (as xsconsole's SR picker). */
export function selectSrChoices(input: SrChoiceInput, filter: SrFilter): SrChoice[] {
  const hostsOf = new Map<string, string[]>();
  for (const pbd of input.pbds.values()) hostsOf.set(pbd.SR, [...(hostsOf.get(pbd.SR) ?? []), pbd.host]);
  const out: SrChoice[] = [];
  for (const [ref, sr] of input.srs) {
    const hosts = hostsOf.get(ref) ?? [];
    if (hosts.length > 0 && !hosts.includes(input.thisHost)) continue;
    if (filter.mode === 'rw' && sr.content_type === 'iso') continue;
    if (filter.capability && !sr.allowed_operations.includes(filter.capability)) continue;
    const { allowedOperations: _, ...summary } = srSummary(ref, sr, input.defaultSr);
    out.push({ ...summary, backup: NO_SR_BACKUP }); // the backup is read separately (one VDI lookup per SR listed): see readSrBackups
  }
  return out.sort((a, b) => (a.nameLabel < b.nameLabel ? -1 : a.nameLabel > b.nameLabel ? 1 : a.uuid.localeCompare(b.uuid)));
}
