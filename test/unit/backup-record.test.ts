/** The last backup's record on its VDI: format and bounded parse, and the space outlook built on it. */
import { describe, expect, it } from 'vitest';
import { backupsThatFit, forecastText, formatLastBackupRecord, parseLastBackupRecord, spaceForecast, type LastBackupRecord } from '../../src/dr/backup-record.js';

const MiB = 1024 * 1024;
const record: LastBackupRecord = {
  date: '2025-01-02-03-04-05',
  finishedAt: '2025-01-02T03:05:00.000Z',
  vms: 2000,
  templates: 3,
  failures: 0,
  backupBytes: 100 * MiB,
  usedBytes: 840 * MiB,
  capacityBytes: 1000 * MiB,
  keep: 12,
};

describe('the record', () => {
  it('round-trips, and refuses what is not ours', () => {
    expect(parseLastBackupRecord(formatLastBackupRecord(record))).toEqual(record);
    expect(parseLastBackupRecord('{"v":2}')).toBeNull();
    expect(parseLastBackupRecord('x'.repeat(2000))).toBeNull();
    expect(parseLastBackupRecord(JSON.stringify({ v: 1, ...record, usedBytes: 2000 * MiB }))).toBeNull();
  });
});

describe('the space outlook (the issue: ~10 % per backup, the 11th refused)', () => {
  it('at 84 % with 9 kept of 12: one more fits, and it is the last', () => {
    expect(backupsThatFit(record, 9)).toBe(1);
    const f = spaceForecast(record, 9);
    expect(f).toEqual({ backupsThatFit: 1, nextRefused: false, lastThatFits: true });
    const t = forecastText(f);
    expect(t.line).toBe('About 1 more backup of this size fits before the 90% guard.');
    expect(t.warning).toMatch(/^Only one more backup fits: the one after it will be refused/);
  });

  it('at 94 % the next one is refused, and the text names the remedies', () => {
    const f = spaceForecast({ ...record, usedBytes: 940 * MiB }, 10);
    expect(f).toEqual({ backupsThatFit: 0, nextRefused: true, lastThatFits: false });
    expect(forecastText(f).warning).toBe(
      'The next backup will be refused: the backup VDI is over 90% full. Keep fewer backups and back up past the guard, or use a larger backup VDI.',
    );
  });

  it('once as many are kept as retention keeps, the use stays level', () => {
    const f = spaceForecast({ ...record, usedBytes: 500 * MiB }, 12);
    expect(f.backupsThatFit).toBe('unlimited');
    expect(forecastText(f)).toEqual({ line: 'All the backups kept fit: once as many are kept as retention allows, the oldest is removed after each new one, so the use stays about level.', warning: null });
    // JSON carries it as a word (Infinity would be null).
    expect(JSON.parse(JSON.stringify(f)).backupsThatFit).toBe('unlimited');
  });

  it('with plenty of room, a count and no warning; an unknown size says so', () => {
    const roomy = spaceForecast({ ...record, usedBytes: 100 * MiB, keep: 100 }, 1);
    expect(roomy).toEqual({ backupsThatFit: 9, nextRefused: false, lastThatFits: false });
    expect(forecastText(roomy)).toEqual({ line: 'About 9 more backups of this size fit before the 90% guard.', warning: null });
    const unknown = spaceForecast({ ...record, backupBytes: 0 }, 1);
    expect(unknown.backupsThatFit).toBeNull();
    expect(forecastText(unknown).line).toMatch(/not known/);
  });
});
