/** The remedies offered for a full backup VDI: which backups keeping fewer removes, and what the console says before it runs. */
import { describe, expect, it } from 'vitest';
import { keepFewerChoices, keepFewerPlan, type SpaceGuardFacts } from '../../src/dr/backup.js';
import { forceQuestion, keepFewerLabel, keepFewerQuestion } from '../../components/backup/summary.js';

const MiB = 1024 * 1024;
const dates = ['2025-01-01-00-00-00', '2025-01-03-00-00-00', '2025-01-02-00-00-00'];
const facts: SpaceGuardFacts = { usedBytes: 94 * MiB, availableBytes: 6 * MiB, backups: dates, keep: 12 };

describe('keep fewer', () => {
  it('keeping n (the new one included) removes all but the newest n-1 present, newest first', () => {
    expect(keepFewerPlan(facts, 1)).toEqual({ keep: 1, removed: ['2025-01-03-00-00-00', '2025-01-02-00-00-00', '2025-01-01-00-00-00'] });
    expect(keepFewerPlan(facts, 3)).toEqual({ keep: 3, removed: ['2025-01-01-00-00-00'] });
  });

  it('offers only counts that remove something and keep fewer than the run would', () => {
    expect(keepFewerChoices(facts).map((p) => p.keep)).toEqual([3, 2, 1]);
    expect(keepFewerChoices({ ...facts, keep: 2 }).map((p) => p.keep)).toEqual([1]);
    expect(keepFewerChoices({ ...facts, keep: 1 })).toEqual([]);
    expect(keepFewerChoices({ ...facts, backups: [] })).toEqual([]);
  });

  it('says the new backup is written first, past the guard, and which go after it', () => {
    const plan = keepFewerPlan(facts, 2);
    expect(keepFewerLabel(plan)).toBe('Keep 2: removes 2 older backups');
    const q = keepFewerQuestion(plan, 94, facts);
    expect(q).toContain('The new backup is written first, into the 6.0 MiB free now, past the 90% guard (94% used).');
    expect(q).toContain('Only once it is complete are 2 older backup(s) removed: 2025-01-02-00-00-00, 2025-01-01-00-00-00.');
  });

  it('backing up anyway says whether retention removes any', () => {
    expect(forceQuestion(94, facts)).toContain('No backup is removed: with this one there are 4, within the 12 kept.');
    expect(forceQuestion(94, { ...facts, keep: 2 })).toContain('Once it is complete, the oldest 2 backup(s) are removed (2 are kept).');
  });
});
