/** A last-backup record as a backup leaves it on its VDI: 2000 VMs, ~10 % of the VDI each, 64 % used. */
import type { LastBackupRecord } from '../../src/dr/backup-record.js';

const MiB = 1024 ** 2;

export function sampleRecord(over: Partial<LastBackupRecord> = {}): LastBackupRecord {
  return {
    date: '2026-12-07-14-00-00',
    finishedAt: '2026-12-07T14:00:09.000Z',
    vms: 2000,
    templates: 12,
    failures: 0,
    backupBytes: 100 * MiB,
    usedBytes: 640 * MiB,
    capacityBytes: 1000 * MiB,
    keep: 12,
    ...over,
  };
}
