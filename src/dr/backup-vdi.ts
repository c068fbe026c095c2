/**
 * Finding or creating the backup VDI of an SR. Since XSA-459 the only VDI ever trusted
 * is the one whose uuid is UUIDv5(namespace, SR uuid) (facts §5.2); nothing else is looked at.
 */
import { XenApiError, isNullRef, toInt, toStr, type Ref, type Session } from '../xenapi/index.js';
import { BACKUP_VDI_LABEL, BACKUP_VDI_OTHER_CONFIG_KEY, BACKUP_VDI_SIZE, backupVdiUuid } from './layout.js';

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
}

export class NoBackupVdiError extends Error {
  constructor(readonly sr: SrInfo, readonly expectedUuid: string) {
    super(
      `No backup VDI on SR "${sr.nameLabel}" (expected uuid ${expectedUuid}). ` +
        'Run a backup with VDI creation allowed to initialise one.',
    );
    this.name = 'NoBackupVdiError';
  }
}

export class BackupTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupTargetError';
  }
}

/** The SR by uuid, or the pool's default SR when none is given. */
export async function resolveSr(session: Session, srUuid?: string): Promise<SrInfo> {
  let ref: Ref;
  if (srUuid) {
    try {
      ref = await session.call<Ref>('SR.get_by_uuid', srUuid);
    } catch (err) {
      if (err instanceof XenApiError && err.code === 'UUID_INVALID') {
        throw new BackupTargetError(`Invalid SR UUID specified: ${srUuid} (no such SR in this pool).`);
      }
      throw err;
    }
  } else {
    const pool = (await session.call<Ref[]>('pool.get_all'))[0];
    if (!pool) throw new BackupTargetError('The pool has no pool object.');
    ref = await session.call<Ref>('pool.get_default_SR', pool);
    if (isNullRef(ref)) throw new BackupTargetError('No SR given and the pool has no default SR: choose an SR.');
  }
  const rec = await session.call<Record<string, unknown>>('SR.get_record', ref);
  return { ref, uuid: toStr(rec['uuid']), nameLabel: toStr(rec['name_label']) };
}

/** The deterministic-uuid VDI if it exists on this SR; null when it does not. */
export async function findBackupVdi(session: Session, sr: SrInfo): Promise<BackupVdi | null> {
  const uuid = backupVdiUuid(sr.uuid);
  let ref: Ref;
  try {
    ref = await session.call<Ref>('VDI.get_by_uuid', uuid);
  } catch (err) {
    if (err instanceof XenApiError && err.code === 'UUID_INVALID') return null;
    throw err;
  }
  const rec = await session.call<Record<string, unknown>>('VDI.get_record', ref);
  if (toStr(rec['SR']) !== sr.ref) {
    throw new BackupTargetError(`VDI ${uuid} has the backup uuid of SR "${sr.nameLabel}" but lives on another SR; refusing to use it.`);
  }
  return { ref, uuid, virtualSize: toInt(rec['virtual_size']), readOnly: rec['read_only'] === true };
}

/**
 * Creates the backup VDI as `xe vdi-create … name-label="Pool Metadata Backup" type=user`
 * does, then marks it. XAPI gives it the deterministic uuid (hosts since 2024).
 */
export async function createBackupVdi(session: Session, sr: SrInfo, size = BACKUP_VDI_SIZE): Promise<BackupVdi & { deterministic: boolean }> {
  const ref = await session.call<Ref>('VDI.create', {
    name_label: BACKUP_VDI_LABEL,
    name_description: '',
    SR: sr.ref,
    virtual_size: String(size),
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: {},
    xenstore_data: {},
    sm_config: {},
    tags: [],
  });
  try {
    await session.call('VDI.add_to_other_config', ref, BACKUP_VDI_OTHER_CONFIG_KEY, 'true');
    const rec = await session.call<Record<string, unknown>>('VDI.get_record', ref);
    const uuid = toStr(rec['uuid']);
    return { ref, uuid, virtualSize: toInt(rec['virtual_size']), readOnly: false, deterministic: uuid === backupVdiUuid(sr.uuid) };
  } catch (err) {
    await session.call('VDI.destroy', ref).catch(() => undefined);
    throw err;
  }
}
