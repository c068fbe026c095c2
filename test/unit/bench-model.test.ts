import { describe, expect, it } from 'vitest';
import { EXPORT_PATTERN, atLeast, atMost, lowerBound, patternGroup, type ServerCounts } from '../../bench/model.js';

const counts = (totalCalls: number, transfers: Record<string, number>): ServerCounts => ({
  totalCalls,
  calls: {},
  routes: Object.fromEntries(Object.entries(transfers).map(([k, n]) => [k, { requests: n, bytesIn: 0, bytesOut: 0 }])),
});

describe('lowerBound', () => {
  it('counts the rest in a row and each group ceil(n/c) items deep', () => {
    // 10 exports (2 calls + 1 transfer each), plus 20 calls and 1 transfer outside them.
    const c = counts(40, { '/export_metadata': 10, '/pool/xmldbdump': 1 });
    const b = lowerBound({ counts: c, groups: [patternGroup('exports', 10, EXPORT_PATTERN, 4)], callLatencyMs: 20, transferLatencyMs: 10 });
    expect(b.fixed).toEqual({ calls: 20, transfers: 1 });
    expect(b.waves).toEqual({ exports: 3 });
    // 20·20 + 1·10 + 3·(1·20 + 1·10)
    expect(b.ms).toBe(400 + 10 + 90);
  });

  it('refuses counters that cannot come from the patterns', () => {
    const c = counts(5, { '/export_metadata': 10 });
    expect(() => lowerBound({ counts: c, groups: [patternGroup('exports', 10, EXPORT_PATTERN, 4)], callLatencyMs: 1, transferLatencyMs: 1 })).toThrow(/do not fit/);
    expect(() => lowerBound({ counts: c, groups: [patternGroup('exports', 1, EXPORT_PATTERN, 0)], callLatencyMs: 1, transferLatencyMs: 1 })).toThrow(RangeError);
  });

  it('verdicts say how far off a missed target is', () => {
    expect(atMost(1.2, 1.25)).toBe('met');
    expect(atMost(1.5, 1.25)).toBe('missed by 20 %');
    expect(atLeast(12, 10)).toBe('met');
    expect(atLeast(9, 10)).toBe('missed: 9.0 of 10');
  });
});
