/**
 * The record a backup leaves on its VDI (src/dr/backup-record.ts) is host data: anyone who
 * can set a VDI's other_config writes it. Parsing keeps to its bounds, and the forecast of
 * backups that still fit stays a number (never a hang) whatever the numbers are.
 */
import { describe, expect, it } from 'vitest';
import { backupsThatFit, formatLastBackupRecord, parseLastBackupRecord, usedPercentOf, type LastBackupRecord } from '../../src/dr/backup-record.js';
import { SPACE_GUARD_PERCENT } from '../../src/dr/layout.js';
import { sampleRecord } from '../helpers/last-backup.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

const good: LastBackupRecord = sampleRecord({ failures: 1 });

function raw(over: Record<string, unknown>): string {
  return JSON.stringify({ v: 1, ...good, ...over });
}

/** The rule as a simulation, one backup at a time (small numbers only). */
function simulated(r: Pick<LastBackupRecord, 'usedBytes' | 'capacityBytes' | 'backupBytes' | 'keep'>, keptNow: number): number {
  const guard = (r.capacityBytes * SPACE_GUARD_PERCENT) / 100;
  let used = r.usedBytes;
  let kept = keptNow;
  let fit = 0;
  for (let i = 0; i < 10_000; i++) {
    if (used > guard) return fit; // the guard refuses this one
    fit++;
    used += r.backupBytes;
    kept++;
    if (kept > r.keep) {
      // Retention removes the oldest: from here each run replaces one of the same size.
      return Number.POSITIVE_INFINITY;
    }
  }
  throw new Error('no answer');
}

describe('parseLastBackupRecord', () => {
  it('reads back what formatLastBackupRecord wrote', () => {
    expect(parseLastBackupRecord(formatLastBackupRecord(good))).toEqual(good);
  });

  it('normalises finishedAt to ISO UTC', () => {
    expect(parseLastBackupRecord(raw({ finishedAt: '2026-12-07T15:00:09+01:00' }))?.finishedAt).toBe('2026-12-07T14:00:09.000Z');
  });

  it('ignores absent, empty, oversized and non-JSON values', () => {
    expect(parseLastBackupRecord(undefined)).toBeNull();
    expect(parseLastBackupRecord(null)).toBeNull();
    expect(parseLastBackupRecord('')).toBeNull();
    expect(parseLastBackupRecord('{')).toBeNull();
    expect(parseLastBackupRecord('[1]')).toBeNull();
    expect(parseLastBackupRecord('null')).toBeNull();
    expect(parseLastBackupRecord('"x"')).toBeNull();
    // Padding inside the JSON: valid but over the bound.
    const padded = `${raw({})}${' '.repeat(1100)}`;
    expect(JSON.parse(padded)).toBeTruthy();
    expect(parseLastBackupRecord(padded)).toBeNull();
    expect(parseLastBackupRecord(raw({ junk: 'x'.repeat(2000) }))).toBeNull();
  });

  it('ignores other versions', () => {
    expect(parseLastBackupRecord(raw({ v: 2 }))).toBeNull();
    expect(parseLastBackupRecord(raw({ v: '1' }))).toBeNull();
    const { v: _v, ...noVersion } = JSON.parse(raw({})) as Record<string, unknown>;
    expect(parseLastBackupRecord(JSON.stringify(noVersion))).toBeNull();
  });

  it('ignores dates that are not a stock folder name, and bad finish times', () => {
    for (const date of ['2026-12-07 14:00:00', '2026-12-07-14-00-00\u001b[2J', '\u202e2026-12-07-14-00-00', '../../etc', '2026-12-07-14-00', 20261207, null]) {
      expect(parseLastBackupRecord(raw({ date })), String(date)).toBeNull();
    }
    for (const finishedAt of ['yesterday', '', 'x'.repeat(41), 1765116009000, '2026-13-45T99:00:00Z']) {
      expect(parseLastBackupRecord(raw({ finishedAt })), String(finishedAt)).toBeNull();
    }
  });

  it('ignores counts and sizes that are negative, fractional, unsafe, strings or missing', () => {
    for (const k of ['vms', 'templates', 'failures', 'backupBytes', 'usedBytes', 'capacityBytes', 'keep']) {
      for (const bad of [-1, 1.5, 2 ** 53, '5', null, true, 1e400]) {
        expect(parseLastBackupRecord(raw({ [k]: bad })), `${k}=${String(bad)}`).toBeNull();
      }
      const o = JSON.parse(raw({})) as Record<string, unknown>;
      delete o[k];
      expect(parseLastBackupRecord(JSON.stringify(o)), `${k} missing`).toBeNull();
    }
  });

  it('ignores a filesystem of no size, or fuller than itself', () => {
    expect(parseLastBackupRecord(raw({ capacityBytes: 0, usedBytes: 0 }))).toBeNull();
    expect(parseLastBackupRecord(raw({ usedBytes: good.capacityBytes + 1 }))).toBeNull();
    expect(parseLastBackupRecord(raw({ usedBytes: good.capacityBytes }))).not.toBeNull();
  });

  it('keeps absurd but well-formed sizes as numbers (the screens format them)', () => {
    const r = parseLastBackupRecord(raw({ usedBytes: 2 ** 52, capacityBytes: 2 ** 53 - 1, backupBytes: 1, keep: 2 ** 53 - 1 }));
    expect(r).not.toBeNull();
    expect(usedPercentOf(r!)).toBe(50);
  });
});

describe('usedPercentOf', () => {
  it('rounds to a whole percent', () => {
    expect(usedPercentOf({ usedBytes: 645, capacityBytes: 1000 })).toBe(65);
    expect(usedPercentOf({ usedBytes: 0, capacityBytes: 1000 })).toBe(0);
    expect(usedPercentOf({ usedBytes: 1000, capacityBytes: 1000 })).toBe(100);
  });
});

describe('backupsThatFit', () => {
  const base = { capacityBytes: 1000 * MiB, backupBytes: 100 * MiB, keep: 12 };

  it('the 2000-VM case: each backup ~10 % of the VDI, nothing removed yet', () => {
    // 64 % used: runs start at 64, 74, 84 (under the 90 % guard); the one at 94 is refused.
    expect(backupsThatFit({ ...base, usedBytes: 640 * MiB }, 6)).toBe(3);
    // 94 % after the 10th: the 11th is refused (BACKUP_VDI_FULL), and the forecast says so.
    expect(backupsThatFit({ ...base, usedBytes: 940 * MiB }, 10)).toBe(0);
  });

  it('the guard itself: a run starting at exactly the guard still runs', () => {
    expect(backupsThatFit({ ...base, usedBytes: 900 * MiB }, 9)).toBe(1);
    expect(backupsThatFit({ ...base, usedBytes: 900 * MiB + 1 }, 9)).toBe(0);
  });

  it('retention steady state: once `keep` are kept, each run replaces one, for ever', () => {
    expect(backupsThatFit({ ...base, usedBytes: 500 * MiB, keep: 5 }, 5)).toBe(Number.POSITIVE_INFINITY);
    // Two more before the oldest starts to go; both start under the guard.
    expect(backupsThatFit({ ...base, usedBytes: 500 * MiB, keep: 5 }, 3)).toBe(Number.POSITIVE_INFINITY);
    // Three more would be needed before removal starts; the third would start at 80 %: fine.
    expect(backupsThatFit({ ...base, usedBytes: 600 * MiB, keep: 5 }, 3)).toBe(Number.POSITIVE_INFINITY);
    // Too full to reach the steady state: 4 runs start (60..90), then the guard refuses.
    expect(backupsThatFit({ ...base, usedBytes: 600 * MiB, keep: 12 }, 3)).toBe(4);
  });

  it('over the guard: none, even at the steady state', () => {
    expect(backupsThatFit({ ...base, usedBytes: 950 * MiB, keep: 5 }, 5)).toBe(0);
  });

  it('unknown backup size: null (unless retention already keeps the use level)', () => {
    expect(backupsThatFit({ ...base, usedBytes: 100 * MiB, backupBytes: 0 }, 1)).toBeNull();
    expect(backupsThatFit({ ...base, usedBytes: 100 * MiB, backupBytes: 0, keep: 1 }, 1)).toBe(Number.POSITIVE_INFINITY);
  });

  it('agrees with a run-by-run simulation', () => {
    let checked = 0;
    for (const usedBytes of [0, 1, 150, 333, 600, 899, 900, 901]) {
      for (const backupBytes of [1, 7, 50, 100, 450, 1000]) {
        for (const keep of [1, 2, 5, 12, 40]) {
          for (const keptNow of [0, 1, 4, 12]) {
            const r = { capacityBytes: 1000, usedBytes, backupBytes, keep };
            expect(backupsThatFit(r, keptNow), JSON.stringify({ ...r, keptNow })).toBe(simulated(r, keptNow));
            checked++;
          }
        }
      }
    }
    expect(checked).toBe(960);
  });

  it('answers at once for hostile numbers (a loop over them would hang the screen)', () => {
    const huge = { capacityBytes: 2 ** 53 - 1, usedBytes: 0, backupBytes: 1, keep: 2 ** 53 - 1 };
    expect(backupsThatFit(huge, 0)).toBe(Math.floor(((2 ** 53 - 1) * SPACE_GUARD_PERCENT) / 100) + 1);
    expect(backupsThatFit({ ...huge, keep: 2 ** 40 }, 0)).toBe(Number.POSITIVE_INFINITY);
    expect(backupsThatFit({ capacityBytes: GiB, usedBytes: 0, backupBytes: 1, keep: 2 ** 53 - 1 }, 0)).toBe(Math.floor(GiB * 0.9) + 1);
  });
});
