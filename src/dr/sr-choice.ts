/**
 * Which SRs a feature may use: the domain's rule behind every SR picker (xsconsole's
 * SRDialogue 'mode' and 'capabilities'), pure so it is tested without a pool.
 */
import { toStr } from '../xenapi/index.js';
import { NO_SR_BACKUP, type SrBackup, type SrSummary } from './overview.js';

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


type Rec = Record<string, unknown>;

const num = (v: unknown): number => {
  const n = typeof v === 'number' ? v : Number(toStr(v));
  return Number.isFinite(n) ? n : 0;
};

export interface SrChoiceInput {
  srs: Record<string, Rec>;
  pbds: Record<string, Rec>;
  /** The host the session runs on; SRs are visible when they have a PBD here or none. */
  thisHost: string;
  defaultSr: string;
}

/** The SRs a feature can use, sorted by name (as xsconsole's SR picker). */
export function selectSrChoices(input: SrChoiceInput, filter: SrFilter): SrChoice[] {
  const hostsOf = new Map<string, string[]>();
  for (const pbd of Object.values(input.pbds)) {
    const sr = toStr(pbd['SR']);
    hostsOf.set(sr, [...(hostsOf.get(sr) ?? []), toStr(pbd['host'])]);
  }
  const out: SrChoice[] = [];
  for (const [ref, sr] of Object.entries(input.srs)) {
    const hosts = hostsOf.get(ref) ?? [];
    if (hosts.length > 0 && !hosts.includes(input.thisHost)) continue;
    const contentType = toStr(sr['content_type']);
    if (filter.mode === 'rw' && contentType === 'iso') continue;
    const ops = Array.isArray(sr['allowed_operations']) ? sr['allowed_operations'].map(toStr) : [];
    if (filter.capability && !ops.includes(filter.capability)) continue;
    out.push({
      ref,
      uuid: toStr(sr['uuid']),
      nameLabel: toStr(sr['name_label']),
      type: toStr(sr['type']),
      contentType,
      shared: sr['shared'] === true,
      physicalSize: num(sr['physical_size']),
      physicalUtilisation: num(sr['physical_utilisation']),
      isDefault: ref === input.defaultSr,
      backup: NO_SR_BACKUP, // read separately (one VDI lookup per SR listed): see readSrBackups
    });
  }
  return out.sort((a, b) => (a.nameLabel < b.nameLabel ? -1 : a.nameLabel > b.nameLabel ? 1 : a.uuid.localeCompare(b.uuid)));
}
