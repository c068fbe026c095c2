/**
 * vApps across a metadata backup and restore. XAPI's metadata export has no VM_appliance
 * class, and its import clears VM.appliance (xen-api ocaml/xapi/export.ml, import.ml): vApp
 * membership never survives a stock restore. A backup therefore records each vApp (uuid,
 * names) and its member VMs' order, start_delay and shutdown_delay in one JSON file beside
 * SRMETA.xml in the dated folder. The stock restore never reads it: it imports only
 * `all/*.vmmeta` or `by-sr/<sr>/*.vmmeta` and reads `SRMETA.xml` (xen-api
 * scripts/xe-restore-metadata), and its retention removes whole dated folders.
 *
 * The file is read back as untrusted input: bounded in size, checked field by field; an
 * unknown schema or a broken file is ignored with a warning, never failing the VM restore.
 * VM_appliance.create takes no uuid, so a restore matches an existing vApp by uuid (the same
 * pool) or by name, and otherwise creates one.
 */
import { Host, Pool, VM, VMAppliance, fieldEquals, type Ref, type Session, type VmSequencingRecord } from '../xenapi/index.js';
import { ExpectedFailure, explainError } from '../failure/index.js';
import { isUuid } from './layout.js';
import { forEachConcurrently } from './work-pool.js';
import { neutralise } from '../safe-text.js';

/** The file's name in the dated folder: no `.vmmeta`, not SRMETA.xml, so stock tools pass it by. */
export const VAPPS_FILE = 'xsconsole-dr-vapps.json';
export const VAPPS_FORMAT = 'xsconsole-dr-vapps';
export const VAPPS_SCHEMA = 1;
/** A pool's vApps are a few kilobytes; a file this large is not one of ours. */
export const VAPPS_MAX_BYTES = 4 * 1024 * 1024;
/** Longer names are not a vApp's this program wrote. */
export const VAPP_NAME_MAX = 4096;

export interface VappMember {
  uuid: string;
  order: number;
  startDelay: number;
  shutdownDelay: number;
}

export interface VappEntry {
  uuid: string;
  nameLabel: string;
  nameDescription: string;
  vms: VappMember[];
}

/** What the pool had, for a backup: `supported` false on a host without vApps (API before 1.9). */
export interface PoolVapps {
  supported: boolean;
  vapps: VappEntry[];
}

/** API 1.9 (XenServer 6.0, "boston") brought VM_appliance (site-recovery facts §2.4). */
export function hasVapps(api: { major: number; minor: number }): boolean {
  return api.major > 1 || (api.major === 1 && api.minor >= 9);
}

/** By the master's API version (one host read; the pool's when `master` is not known). */
async function poolHasVapps(session: Session, master: Ref | null, signal?: AbortSignal): Promise<boolean> {
  const opts = signal && { signal };
  const ref = master ?? (await Pool.get(session, opts))?.master;
  if (!ref) return false;
  const host = await Host.getRecord(session, ref, opts);
  return hasVapps({ major: host.API_version_major, minor: host.API_version_minor });
}

const NULL_REF = 'OpaqueRef:NULL';

/**
 * The pool's vApps and their members. Two calls where the pool has vApps
 * (VM_appliance.get_all_records, then the members' fields), one where it has none; on a host
 * before API 1.9 the master's record and nothing else.
 */
export async function readPoolVapps(session: Session, master: Ref, signal?: AbortSignal): Promise<PoolVapps> {
  if (!(await poolHasVapps(session, master, signal))) return { supported: false, vapps: [] };
  const opts = signal && { signal };
  const apps = await VMAppliance.getAllRecords(session, undefined, opts);
  if (apps.size === 0) return { supported: true, vapps: [] };
  const members = await VMAppliance.getSequencingWhere(session, `not ${fieldEquals('appliance', NULL_REF)}`, opts);
  const byApp = new Map<Ref, VappMember[]>();
  for (const m of members.values()) {
    byApp.set(m.appliance, [...(byApp.get(m.appliance) ?? []), { uuid: m.uuid, order: m.order, startDelay: m.start_delay, shutdownDelay: m.shutdown_delay }]);
  }
  const vapps: VappEntry[] = [];
  for (const [ref, a] of apps) {
    const vms = (byApp.get(ref) ?? []).sort((x, y) => x.order - y.order || (x.uuid < y.uuid ? -1 : 1));
    vapps.push({ uuid: a.uuid, nameLabel: a.name_label, nameDescription: a.name_description, vms });
  }
  return { supported: true, vapps: vapps.sort((x, y) => (x.uuid < y.uuid ? -1 : 1)) };
}

/** The vApps as a backup records them: members limited to the VMs it backs up. */
export function vappsOfBackup(vapps: VappEntry[], backedUp: ReadonlySet<string>): VappEntry[] {
  return vapps.map((a) => ({ ...a, vms: a.vms.filter((m) => backedUp.has(m.uuid)) }));
}

/** The vApps a backup recorded (none on a pool without vApps: then no file is written). */
export interface VappsRecorded {
  supported: boolean;
  vapps: number;
  /** Member VMs recorded, in all the vApps. */
  vms: number;
}

/** The backup summary's line (console and CLI). */
export function vappsRecordedText(v: VappsRecorded): string {
  if (!v.supported) return 'vApps: none recorded (this pool has no vApps: XenAPI before 1.9).';
  const vms = v.vms === 1 ? '1 member VM' : `${v.vms} member VMs`;
  return `${v.vapps === 1 ? '1 vApp' : `${v.vapps} vApps`} recorded (${vms}, with their order and delays).`;
}

/** The file's text: versioned JSON, field names as the datamodel spells them. */
export function buildVappsFile(vapps: VappEntry[]): string {
  const doc = {
    format: VAPPS_FORMAT,
    schema: VAPPS_SCHEMA,
    vapps: vapps.map((a) => ({
      uuid: a.uuid,
      name_label: a.nameLabel,
      name_description: a.nameDescription,
      vms: a.vms.map((m) => ({ uuid: m.uuid, order: m.order, start_delay: m.startDelay, shutdown_delay: m.shutdownDelay })),
    })),
  };
  return `${JSON.stringify(doc, null, 1)}\n`;
}

export type VappsFileRead = { ok: true; vapps: VappEntry[]; warnings: string[] } | { ok: false; warning: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const own = (o: Record<string, unknown>, k: string): unknown => (Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
/**
 * XML 1.0 has no form for C0 controls but tab, LF and CR (nor U+FFFE, U+FFFF, lone
 * surrogates): XAPI never hands out such a name, and none can be sent back to it over XML-RPC.
 */
const XML_FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const isName = (v: unknown): v is string => typeof v === 'string' && v.length <= VAPP_NAME_MAX && !XML_FORBIDDEN.test(v);

/**
 * Reads the file as untrusted input. A file that is not ours, too large, not JSON or of
 * another schema is ignored whole (`ok: false`, with why); a malformed vApp or member is
 * skipped with a warning, the rest kept. A VM named by two vApps keeps the first.
 */
export function parseVappsFile(bytes: Buffer): VappsFileRead {
  const ignored = (why: string): VappsFileRead => ({ ok: false, warning: `The backup's vApp file was ignored: ${why}; vApps are not recreated.` });
  if (bytes.length > VAPPS_MAX_BYTES) return ignored(`it is ${bytes.length} bytes, more than ${VAPPS_MAX_BYTES}`);
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    return ignored('it is not JSON');
  }
  if (!isObject(doc) || own(doc, 'format') !== VAPPS_FORMAT) return ignored('it is not an xsconsole-dr vApp file');
  const schema = own(doc, 'schema');
  if (schema !== VAPPS_SCHEMA) return ignored(`its schema ${neutralise(typeof schema === 'number' ? schema : typeof schema)} is not one this version reads (${VAPPS_SCHEMA})`);
  const list = own(doc, 'vapps');
  if (!Array.isArray(list)) return ignored('it has no list of vApps');
  const warnings: string[] = [];
  const vapps: VappEntry[] = [];
  const seenApps = new Set<string>();
  const seenVms = new Set<string>();
  list.forEach((raw, i) => {
    const skip = (why: string) => warnings.push(`vApp entry ${i + 1} of the backup's vApp file was skipped: ${why}.`);
    if (!isObject(raw)) return skip('not an object');
    const uuid = own(raw, 'uuid');
    const nameLabel = own(raw, 'name_label');
    const nameDescription = own(raw, 'name_description');
    const vms = own(raw, 'vms');
    if (typeof uuid !== 'string' || !isUuid(uuid)) return skip('its uuid is not a uuid');
    if (!isName(nameLabel) || !isName(nameDescription)) return skip(`its names are not strings of at most ${VAPP_NAME_MAX} characters that XenAPI can carry`);
    if (!Array.isArray(vms)) return skip('it has no list of VMs');
    if (seenApps.has(uuid)) return skip(`vApp ${uuid} is listed twice`);
    seenApps.add(uuid);
    const members: VappMember[] = [];
    vms.forEach((m, j) => {
      const drop = (why: string) => warnings.push(`VM ${j + 1} of vApp "${neutralise(nameLabel)}" in the backup's vApp file was skipped: ${why}.`);
      if (!isObject(m)) return drop('not an object');
      const vm = own(m, 'uuid');
      const order = own(m, 'order');
      const startDelay = own(m, 'start_delay');
      const shutdownDelay = own(m, 'shutdown_delay');
      if (typeof vm !== 'string' || !isUuid(vm)) return drop('its uuid is not a uuid');
      if (!isCount(order) || !isCount(startDelay) || !isCount(shutdownDelay)) return drop('order and delays must be whole numbers of at least 0');
      if (seenVms.has(vm)) return drop(`VM ${vm} is in another vApp already`);
      seenVms.add(vm);
      members.push({ uuid: vm, order, startDelay, shutdownDelay });
    });
    vapps.push({ uuid, nameLabel, nameDescription, vms: members });
  });
  return { ok: true, vapps, warnings };
}

export type VappAction = 'created' | 'reused' | 'would-create' | 'would-reuse' | 'failed';

export interface VappOutcome {
  /** The vApp's uuid in the backup (the source pool's). */
  uuid: string;
  /** Its name in the backup, exact (neutralise it to show it). */
  name: string;
  action: VappAction;
  /** The vApp at this site: created or reused (a dry run: reused only). */
  hereUuid?: string;
  /** Restored member VMs placed in it with their order and delays (a dry run: that would be). */
  members: number;
  /** Member VMs of this vApp this restore restored. */
  restoredMembers: number;
  /** Why it was created beside one of the same name, or reused by name. */
  note?: string;
  /** Creating it, or placing a member, failed: XAPI's code, what it means, what to do. */
  error?: { code: string; meaning: string; nextStep: string; vm?: string };
}

export interface VappsRestoreReport {
  /**
   * absent: the backup has no vApp file (a stock backup, or one older than this feature);
   * ignored: it has one this version cannot trust or read; unsupported: this pool has no
   * vApps (API before 1.9); read: the file was read and its vApps dealt with.
   */
  state: 'absent' | 'ignored' | 'unsupported' | 'read';
  warnings: string[];
  vapps: VappOutcome[];
}

/** A vApp to recreate: one with members this restore restored. */
function wantedVapps(vapps: VappEntry[], restored: ReadonlySet<string>): Array<VappEntry & { restored: VappMember[] }> {
  return vapps.map((a) => ({ ...a, restored: a.vms.filter((m) => restored.has(m.uuid)) })).filter((a) => a.restored.length > 0);
}

type Here = { ref: Ref; uuid: string; name: string; vms: Set<string> };

/**
 * Which vApp here a recorded one becomes. By uuid first (a restore into the pool it came
 * from). By name only when exactly one vApp here has it and it holds none but this vApp's
 * own VMs (so a second restore of the same backup reuses what the first made); a name held
 * by another vApp is left alone and a new vApp of the same name is made beside it.
 */
function matchHere(a: VappEntry, here: Here[]): { found: Here } | { note?: string } {
  const same = here.find((h) => h.uuid === a.uuid);
  if (same) return { found: same };
  const named = here.filter((h) => h.name === a.nameLabel);
  const mine = new Set(a.vms.map((m) => m.uuid));
  if (named.length === 1 && [...named[0]!.vms].every((v) => mine.has(v))) return { found: named[0]! };
  if (named.length === 0) return {};
  return { note: `${named.length === 1 ? 'a vApp' : `${named.length} vApps`} of this name already here ${named.length === 1 ? 'holds' : 'hold'} other VMs: a new vApp of the same name is made beside ${named.length === 1 ? 'it' : 'them'}` };
}

export interface RecreateOptions {
  dryRun: boolean;
  concurrency: number;
  signal?: AbortSignal;
}

/**
 * After the imports: recreates the recorded vApps that have restored members, places those
 * VMs in them and sets their order and delays where they differ. A failure is told per vApp
 * and never fails the restore. `restored`: uuids of the VMs this restore restored (a dry
 * run: would restore).
 */
export async function recreateVapps(session: Session, file: Buffer | null, restored: ReadonlySet<string>, opts: RecreateOptions): Promise<VappsRestoreReport> {
  if (!file) return { state: 'absent', warnings: [], vapps: [] };
  const read = parseVappsFile(file);
  if (!read.ok) return { state: 'ignored', warnings: [read.warning], vapps: [] };
  const warnings = [...read.warnings];
  const wanted = wantedVapps(read.vapps, restored);
  if (wanted.length === 0) return { state: 'read', warnings, vapps: [] };
  const reqOpts = opts.signal && { signal: opts.signal };
  let here: Here[];
  let vms: Map<string, VmSequencingRecord & { ref: Ref }>;
  try {
    if (!(await poolHasVapps(session, null, opts.signal))) {
      warnings.push(`This pool has no vApps (XenAPI before 1.9): ${wanted.length} vApp(s) of the backup cannot be recreated here.`);
      return { state: 'unsupported', warnings, vapps: [] };
    }
    const [apps, seq] = await Promise.all([VMAppliance.getAllRecords(session, undefined, reqOpts), VMAppliance.getAllSequencing(session, reqOpts)]);
    vms = new Map([...seq].map(([ref, r]) => [r.uuid, { ...r, ref }]));
    const uuidOfVm = new Map([...seq].map(([ref, r]) => [ref, r.uuid]));
    here = [...apps].map(([ref, a]) => ({ ref, uuid: a.uuid, name: a.name_label, vms: new Set(a.VMs.map((v) => uuidOfVm.get(v) ?? v)) }));
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    const e = explainError(err);
    return { state: 'read', warnings, vapps: wanted.map((a) => ({ uuid: a.uuid, name: a.nameLabel, action: 'failed', members: 0, restoredMembers: a.restored.length, error: e })) };
  }
  const out: VappOutcome[] = [];
  for (const a of wanted) {
    const match = matchHere(a, here);
    const note = 'note' in match ? match.note : undefined;
    const base = { uuid: a.uuid, name: a.nameLabel, restoredMembers: a.restored.length, ...(note && { note }) };
    if (opts.dryRun) {
      out.push('found' in match ? { ...base, action: 'would-reuse', hereUuid: match.found.uuid, members: a.restored.length } : { ...base, action: 'would-create', members: a.restored.length });
      continue;
    }
    let target: Here;
    let action: VappAction;
    try {
      if ('found' in match) {
        target = match.found;
        action = 'reused';
      } else {
        const ref = await VMAppliance.create(session, { name_label: a.nameLabel, name_description: a.nameDescription }, reqOpts);
        const rec = await VMAppliance.getRecord(session, ref, reqOpts);
        target = { ref, uuid: rec.uuid, name: rec.name_label, vms: new Set() };
        here.push(target);
        action = 'created';
      }
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      out.push({ ...base, action: 'failed', members: 0, error: explainError(err) });
      continue;
    }
    let placed = 0;
    let firstError: VappOutcome['error'];
    await forEachConcurrently(
      a.restored,
      opts.concurrency,
      async (m) => {
        const vm = vms.get(m.uuid);
        try {
          if (!vm) throw new ExpectedFailure('VM_NOT_HERE', `VM ${m.uuid} is not in this pool after the import.`, 'Check that its import succeeded, then put it in its vApp with xe vm-param-set appliance=<vApp uuid>.');
          await Promise.all([
            vm.appliance === target.ref ? undefined : VM.setAppliance(session, vm.ref, target.ref, reqOpts),
            vm.order === m.order ? undefined : VM.setOrder(session, vm.ref, m.order, reqOpts),
            vm.start_delay === m.startDelay ? undefined : VM.setStartDelay(session, vm.ref, m.startDelay, reqOpts),
            vm.shutdown_delay === m.shutdownDelay ? undefined : VM.setShutdownDelay(session, vm.ref, m.shutdownDelay, reqOpts),
          ]);
          target.vms.add(m.uuid);
          placed++;
        } catch (err) {
          if (opts.signal?.aborted) throw err;
          firstError ??= { ...explainError(err), vm: m.uuid };
        }
      },
      opts.signal,
    );
    out.push({ ...base, action: firstError ? 'failed' : action, hereUuid: target.uuid, members: placed, ...(firstError && { error: firstError }) });
  }
  return { state: 'read', warnings, vapps: out };
}
