/**
 * After a successful backup: its record (backup-record.ts) written into the backup VDI's
 * other_config, where every console and CLI that sees the pool reads it. XAPI's
 * add_to_other_config refuses a key that exists (MAP_DUPLICATE_KEY), so the old value is
 * removed first. A backup that succeeded never fails for this: the caller gets a warning.
 */
import { describeFailure } from '../../failure/index.js';
import { VDI, type Ref, type Session } from '../../xenapi/index.js';
import { LAST_BACKUP_KEY, formatLastBackupRecord, type LastBackupRecord } from '../backup-record.js';

/** Null when written; else the warning for the operator. */
export async function writeLastBackupRecord(session: Session, vdi: Ref, record: LastBackupRecord): Promise<string | null> {
  try {
    await VDI.removeFromOtherConfig(session, vdi, LAST_BACKUP_KEY);
    await VDI.addToOtherConfig(session, vdi, LAST_BACKUP_KEY, formatLastBackupRecord(record));
    return null;
  } catch (err) {
    const f = describeFailure(err);
    return `The backup succeeded, but its record could not be written on the backup VDI (${f.code}: ${f.meaning}); the status panes will not show this backup.`;
  }
}
