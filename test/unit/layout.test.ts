import { describe, expect, it } from 'vitest';
import {
  backupVdiUuid,
  bySrLinkTarget,
  dbGenerationOf,
  formatBackupDate,
  isBackupDate,
  logrotateConf,
  newestFirst,
  parseLogrotateHistory,
  planDbRotation,
  planRetention,
  uuidV5,
  vmUuidOfEntry,
} from '../../src/dr/layout.js';

describe('deterministic backup VDI uuid (UUIDv5 vectors)', () => {
  it('matches XAPI for the published vectors', () => {
    expect(backupVdiUuid('00000000-0000-0000-0000-000000000000')).toBe('581017e4-81dd-5c81-adf6-59e789731929');
    expect(backupVdiUuid('3f6e4b2c-1a2b-4c3d-8e9f-0123456789ab')).toBe('4da1b1aa-da5f-59c7-bb58-f99e577d3753');
  });
  it('is case-sensitive in the SR uuid, as XAPI is', () => {
    expect(backupVdiUuid('3F6E4B2C-1A2B-4C3D-8E9F-0123456789AB')).toBe('8af25a97-2a53-5535-a1b5-2a1036ff5263');
  });
  it('agrees with the RFC 4122 DNS example', () => {
    // uuid5(NAMESPACE_DNS, "python.org") from Python's documentation.
    expect(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'python.org')).toBe('886313e1-3b8a-5372-9b90-0c9aee199e5d');
  });
});

describe('logrotate config', () => {
  it('is the exact stock 4-line text and parses back', () => {
    const text = logrotateConf('v-uuid', 'p-uuid', 12);
    expect(text).toBe('/var/run/pool-backup-v-uuid/p-uuid.db {\n    rotate 12\n    missingok\n}\n');
    expect(parseLogrotateHistory(text)).toBe(12);
    expect(parseLogrotateHistory('garbage')).toBeNull();
  });
});

describe('database rotation plan', () => {
  it('shifts every generation up and drops those beyond history', () => {
    expect(planDbRotation([0, 1, 2, 3], 3)).toEqual({ remove: [3], renames: [[2, 3], [1, 2], [0, 1]] });
    expect(planDbRotation([], 12)).toEqual({ remove: [], renames: [] });
    expect(planDbRotation([0], 12)).toEqual({ remove: [], renames: [[0, 1]] });
  });
  it('recognises only stock generation names', () => {
    expect(dbGenerationOf('p.db', 'p')).toBe(0);
    expect(dbGenerationOf('p.db.7', 'p')).toBe(7);
    expect(dbGenerationOf('p.db.07', 'p')).toBeNull();
    expect(dbGenerationOf('p.db.1.gz', 'p')).toBeNull();
    expect(dbGenerationOf('q.db.1', 'p')).toBeNull();
  });
});

describe('dated folders', () => {
  it('formats like date +%F-%H-%M-%S', () => {
    expect(formatBackupDate(new Date(2024, 6, 16, 9, 5, 3))).toBe('2024-07-16-09-05-03');
  });
  it('accepts only calendar-valid stock names', () => {
    expect(isBackupDate('2024-02-29-23-59-59')).toBe(true);
    expect(isBackupDate('2023-02-29-00-00-00')).toBe(false);
    expect(isBackupDate('2024-13-01-00-00-00')).toBe(false);
    expect(isBackupDate('../../etc')).toBe(false);
    expect(isBackupDate('.incomplete-2024-02-29-23-59-59')).toBe(false);
    expect(isBackupDate('2024-02-29-23-59-59 ')).toBe(false);
  });
  it('lists newest first and keeps the newest `history` on retention', () => {
    const names = ['2024-01-01-00-00-00', 'lost+found', '2024-03-01-00-00-00', '2024-02-01-00-00-00'];
    expect(newestFirst(names)).toEqual(['2024-03-01-00-00-00', '2024-02-01-00-00-00', '2024-01-01-00-00-00']);
    expect(planRetention(names, 2)).toEqual({
      keep: ['2024-03-01-00-00-00', '2024-02-01-00-00-00'],
      remove: ['2024-01-01-00-00-00'],
    });
  });
});

describe('entries', () => {
  it('accepts only <uuid>.vmmeta', () => {
    expect(vmUuidOfEntry('8d1c2f3e-0000-4000-8000-00000000a001.vmmeta')).toBe('8d1c2f3e-0000-4000-8000-00000000a001');
    expect(vmUuidOfEntry('../8d1c2f3e-0000-4000-8000-00000000a001.vmmeta')).toBeNull();
    expect(vmUuidOfEntry('8D1C2F3E-0000-4000-8000-00000000A001.vmmeta')).toBeNull();
    expect(bySrLinkTarget('x')).toBe('../../all/x.vmmeta');
  });
});
