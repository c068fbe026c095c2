/** A backup beside the pool: the status rule, the differences, and the text (names neutralised). */
import { describe, expect, it } from 'vitest';
import { compareStatus, differences, type BackupComparison, type VmFacts } from '../../src/dr/backup-compare.js';
import { compareCountsText, compareLines } from '../../src/dr/compare-text.js';

const facts = (over: Partial<VmFacts> = {}): VmFacts => ({ name: 'web', isTemplate: false, version: 2, vcpus: 2, memoryStaticMax: 2048 * 1024 * 1024, disks: ['d1'], networks: ['0:LAN'], powerState: 'Halted', ...over });

describe('compare', () => {
  it('decides by VM.version first (XAPI imports only a newer one over a halted VM), then by the facts', () => {
    expect(compareStatus(facts(), null, [])).toBe('missing');
    expect(compareStatus(facts(), facts({ version: 3 }), [])).toBe('newerHere');
    expect(compareStatus(facts({ version: 3 }), facts(), [])).toBe('olderHere');
    const diffs = differences(facts(), facts({ vcpus: 4, memoryStaticMax: 1024 * 1024 * 1024, networks: ['0:LAN', '1:DMZ'], disks: [] }));
    expect(diffs).toEqual([
      { field: 'vcpus', backup: '2', pool: '4' },
      { field: 'memory', backup: '2048 MiB', pool: '1024 MiB' },
      { field: 'disks', backup: 'd1', pool: 'none' },
      { field: 'networks', backup: '0:LAN', pool: '0:LAN, 1:DMZ' },
    ]);
    expect(compareStatus(facts(), facts(), diffs)).toBe('changed');
    expect(compareStatus(facts(), facts(), differences(facts(), facts()))).toBe('same');
  });

  it('the text groups by status with counts, lists each difference, and neutralises names', () => {
    const evil = 'evil\u001b[2J\u202ename';
    const c: BackupComparison = {
      sr: { uuid: 's', name: 'SR' },
      date: '2025-06-02-08-30-00',
      vms: [
        { uuid: 'u1', status: 'missing', backup: facts({ name: evil }), pool: null, differences: [] },
        { uuid: 'u2', status: 'changed', backup: facts(), pool: facts({ name: evil }), differences: differences(facts(), facts({ name: evil })) },
      ],
      onlyHere: [{ uuid: 'u3', ...facts({ name: 'db', isTemplate: true }) }],
      unreadable: [],
      counts: { missing: 1, newerHere: 0, olderHere: 0, changed: 1, same: 0, onlyHere: 1, unreadable: 0 },
    };
    expect(compareCountsText(c)).toBe('1 missing here, 1 changed; 1 only in this pool');
    const text = compareLines(c).join('\n');
    expect(text).not.toMatch(/[\u001b\u202e]/);
    expect(text).toContain('Missing here (1): a restore creates them\n  evil\\u001b[2J\\u202ename  u1');
    expect(text).toContain('Changed (1): same version, other facts; a restore refuses them unless forced\n  web  u2\n      name: backup web → here evil\\u001b[2J\\u202ename');
    expect(text).toContain('Only in this pool (1): not in this backup\n  db (template)  u3');
  });
});
