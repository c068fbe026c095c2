/**
 * Finding or creating the backup VDI of an SR. Since XSA-459 the only VDI ever trusted
 * is the one whose uuid is UUIDv5(namespace, SR uuid) (xen-api ocaml/xapi/xapi_vdi.ml);
 * nothing else is looked at.
 */
import { Host, Pool, SR, VDI, XenApiError, isNullRef, type Ref, type Session, type VdiRecord } from '../xenapi/index.js';
import { BACKUP_VDI_LABEL, BACKUP_VDI_OTHER_CONFIG_KEY, BACKUP_VDI_SIZE, backupVdiUuid } from './layout.js';
import { neutralise } from '../safe-text.js';
import { ExpectedFailure } from '../failure/index.js';

export interface SrInfo {
  ref: Ref;
  uuid: string;
  nameLabel: string;
}

export interface BackupVdi {
  ref: Ref;
  uuid: string;
  virtualSize: number;
  readOnly: boolean;
  /** Found by the pre-2024 rule on a host that cannot give it the deterministic uuid. */
  legacy?: boolean;
  /** Created by this program and never committed to: its content may be no filesystem. */
  initialising?: boolean;
}

/**
 * Marks a backup VDI this program created until its first commit completes: a VDI whose
 * first commit was cut holds no filesystem yet, and the next run formats it again.
 */
export const INITIALISING_KEY = 'xsconsole-dr-initialising';

const initialisingOf = (rec: Pick<VdiRecord, 'other_config'>) => rec.other_config[INITIALISING_KEY] !== undefined;

/** Set on a backup VDI whose host gave it a random uuid (XAPI before the 2024 change). */
export const RANDOM_UUID_KEY = 'xsconsole-dr:random-uuid';

export class NoBackupVdiError extends ExpectedFailure {
  constructor(readonly sr: SrInfo, readonly expectedUuid: string) {
    super(
      'NO_BACKUP_VDI',
      `No backup VDI on SR "${neutralise(sr.nameLabel)}" (expected uuid ${expectedUuid}).`,
      'Run a backup to this SR with VDI creation allowed (the default) to initialise one, or choose the SR the backups were written to.',
    );
    this.name = 'NoBackupVdiError';
  }
}

export class BackupTargetError extends ExpectedFailure {
  constructor(message: string) {
    super('BACKUP_TARGET', message, 'Choose another SR (read the list of SRs again if it has changed).');
    this.name = 'BackupTargetError';
  }
}

/**
 * The SR by uuid, or the pool's default SR when none is given (`pool`: the pool as the
 * caller already read it, so it is not asked for again).
 */
export async function resolveSr(session: Session, srUuid?: string, pool?: { defaultSr: Ref }): Promise<SrInfo> {
  let ref: Ref;
  if (srUuid) {
    try {
      ref = await SR.getByUuid(session, srUuid);
    } catch (err) {
      if (err instanceof XenApiError && err.code === 'UUID_INVALID') {
        throw new BackupTargetError(`Invalid SR UUID specified: ${neutralise(srUuid)} (no such SR in this pool).`);
      }
      throw err;
    }
  } else if (pool) {
    ref = pool.defaultSr;
    if (isNullRef(ref)) throw new BackupTargetError('No SR given and the pool has no default SR: choose an SR.');
  } else {
    const poolRef = (await Pool.getAll(session))[0];
    if (!poolRef) throw new BackupTargetError('The pool has no pool object.');
    ref = await Pool.getDefaultSr(session, poolRef);
    if (isNullRef(ref)) throw new BackupTargetError('No SR given and the pool has no default SR: choose an SR.');
  }
  const rec = await SR.getRecord(session, ref);
  return { ref, uuid: rec.uuid, nameLabel: rec.name_label };
}

/**
 * The backup VDI to write to: the deterministic-uuid VDI of this SR; or, on a host whose XAPI
 * cannot create that uuid (so that every run would otherwise create another VDI), the VDI
 * found by the pre-2024 stock rule — "Pool Metadata Backup" with other-config
 * ctxs-pool-backup=true — restricted to ours (RANDOM_UUID_KEY) unless the host predates
 * XenServer 8.2 (API < 2.15), where every backup VDI was made that way. Null when none.
 * `master`: the pool master's ref when the caller has it (its API version is read from it).
 */
export async function findBackupVdi(session: Session, sr: SrInfo, master?: Ref): Promise<BackupVdi | null> {
  const uuid = backupVdiUuid(sr.uuid);
  let ref: Ref;
  try {
    ref = await VDI.getByUuid(session, uuid);
  } catch (err) {
    if (err instanceof XenApiError && err.code === 'UUID_INVALID') return findLegacyBackupVdi(session, sr, master);
    throw err;
  }
  const rec = await VDI.getRecord(session, ref);
  if (rec.SR !== sr.ref) {
    throw new BackupTargetError(`VDI ${neutralise(uuid)} has the backup uuid of SR "${neutralise(sr.nameLabel)}" but lives on another SR; refusing to use it.`);
  }
  return { ref, uuid, virtualSize: rec.virtual_size, readOnly: rec.read_only, ...(initialisingOf(rec) && { initialising: true }) };
}

async function findLegacyBackupVdi(session: Session, sr: SrInfo, master?: Ref): Promise<BackupVdi | null> {
  const { major, minor } = master
    ? await Host.getRecord(session, master).then((h) => ({ major: h.API_version_major, minor: h.API_version_minor }))
    : await session.apiVersion();
  const preDeterministicEra = major < 2 || (major === 2 && minor < 15);
  const recs = await VDI.getAllRecordsWhere(session, `field "SR" = "${sr.ref}" and field "name__label" = "${BACKUP_VDI_LABEL}"`);
  const found = [...recs].filter(([, r]) => {
    const oc = r.other_config;
    return r.type === 'user' && oc[BACKUP_VDI_OTHER_CONFIG_KEY] === 'true' && (oc[RANDOM_UUID_KEY] === 'true' || preDeterministicEra);
  });
  if (found.length === 0) return null;
  if (found.length > 1) {
    throw new BackupTargetError(
      `SR "${neutralise(sr.nameLabel)}" has several backup VDIs made before deterministic uuids (${found.map(([, r]) => neutralise(r.uuid)).join(', ')}); ` +
        'keep one (destroy or relabel the others) and run again.',
    );
  }
  const [ref, rec] = found[0]!;
  return { ref, uuid: rec.uuid, virtualSize: rec.virtual_size, readOnly: rec.read_only, legacy: true, ...(initialisingOf(rec) && { initialising: true }) };
}

/**
 * Creates the backup VDI as `xe vdi-create … name-label="Pool Metadata Backup" type=user`
 * does, then marks it. XAPI gives it the deterministic uuid (hosts since 2024).
 */
export async function createBackupVdi(
  session: Session,
  sr: SrInfo,
  size = BACKUP_VDI_SIZE,
  /** Keys the VDI is born with (its lock: see vdi-lock.ts prepareNewVdiLock). */
  otherConfig: Record<string, string> = {},
): Promise<BackupVdi & { deterministic: boolean }> {
  const ref = await VDI.create(session, {
    name_label: BACKUP_VDI_LABEL,
    name_description: '',
    SR: sr.ref,
    virtual_size: size,
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: { ...otherConfig, [INITIALISING_KEY]: new Date().toISOString() },
    xenstore_data: {},
    sm_config: {},
    tags: [],
  });
  try {
    await VDI.addToOtherConfig(session, ref, BACKUP_VDI_OTHER_CONFIG_KEY, 'true');
    const rec = await VDI.getRecord(session, ref);
    const uuid = rec.uuid;
    const deterministic = uuid === backupVdiUuid(sr.uuid);
    // Remember that this host hands out random uuids, so the next run finds this VDI again.
    if (!deterministic) await VDI.addToOtherConfig(session, ref, RANDOM_UUID_KEY, 'true');
    return { ref, uuid, virtualSize: rec.virtual_size, readOnly: false, initialising: true, deterministic };
  } catch (err) {
    await VDI.destroy(session, ref).catch(() => undefined);
    throw err;
  }
}
