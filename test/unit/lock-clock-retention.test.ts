/**
 * Pure parts of the lock, the master clock and retention: lock values read from the pool are
 * untrusted; XAPI's date-times decode as XAPI means them; retention never removes the folder
 * a run just wrote.
 */
// A client whose local zone is not UTC (where reading a zone-less time as local goes wrong).
process.env.TZ = 'America/New_York';

import { describe, expect, it } from 'vitest';
import { planRetention } from '../../src/dr/layout.js';
import { describeDuration } from '../../src/dr/master-clock.js';
import { diedOnThisMachine, parseLockValue, type LockHolder } from '../../src/dr/vdi-lock.js';
import { spawnSync } from 'node:child_process';
import { decodeMethodResponse } from '../../src/xenapi/xmlrpc-decoder.js';

const good = { v: 1, run: 'r1', op: 'backup', host: 'ws1', pid: 42, since: '2025-01-01T10:00:00.000Z', expires: '2025-01-01T10:10:00.000Z' };

describe('lock values read from the pool', () => {
  it('reads a well-formed value, and "free" as handed back', () => {
    expect(parseLockValue(JSON.stringify(good))).toEqual({
      free: false,
      holder: { run: 'r1', op: 'backup', host: 'ws1', pid: 42, since: new Date(good.since), expires: new Date(good.expires) },
    });
    expect(parseLockValue(JSON.stringify({ ...good, op: 'free' }))?.free).toBe(true);
  });

  it.each([
    ['not JSON', '{"v":1,'],
    ['an array', '[1,2]'],
    ['another version', JSON.stringify({ ...good, v: 2 })],
    ['an unknown operation', JSON.stringify({ ...good, op: 'format' })],
    ['a pid that is not a number', JSON.stringify({ ...good, pid: '42' })],
    ['a date that is not one', JSON.stringify({ ...good, expires: 'tomorrow' })],
    ['a huge value', JSON.stringify({ ...good, host: 'h'.repeat(5000) })],
    ['a prototype key only', '{"__proto__":{"v":1}}'],
  ])('refuses %s (treated as an unreadable entry)', (_what, raw) => {
    expect(parseLockValue(raw)).toBeNull();
  });
});

describe('retention keeps the folder this run wrote', () => {
  const stock = ['2025-03-01-02-00-00', '2025-03-01-03-00-00', '2025-03-01-04-00-00'];
  it('even when it sorts below every other folder (a clock behind, another zone)', () => {
    const ours = '2025-02-28-09-00-00';
    expect(planRetention([...stock, ours], 2, ours)).toEqual({ keep: ['2025-03-01-04-00-00', ours], remove: ['2025-03-01-03-00-00', '2025-03-01-02-00-00'] });
    expect(planRetention([...stock, ours], 1, ours)).toEqual({ keep: [ours], remove: [...stock].reverse() });
  });
  it('as stock does when it is the newest', () => {
    const ours = '2025-03-01-05-00-00';
    expect(planRetention([...stock, ours], 2, ours)).toEqual(planRetention([...stock, ours], 2));
  });
});

describe("XAPI's date-times", () => {
  const decode = (t: string) => decodeMethodResponse(`<?xml version="1.0"?><methodResponse><params><param><value><dateTime.iso8601>${t}</dateTime.iso8601></value></param></params></methodResponse>`) as Date;
  it('a time without a zone is UTC, as XAPI reads it (get_server_localtime digits read back exactly)', () => {
    expect(decode('20200407T07:01:28').toISOString()).toBe('2020-04-07T07:01:28.000Z');
    expect(decode('20200407T09:01:28Z').toISOString()).toBe('2020-04-07T09:01:28.000Z');
    expect(decode('2020-04-07T09:01:28Z').toISOString()).toBe('2020-04-07T09:01:28.000Z');
  });
  it('an offset is applied (not read as milliseconds)', () => {
    expect(decode('20200407T07:01:28+02:00').toISOString()).toBe('2020-04-07T05:01:28.000Z');
    expect(decode('20200407T07:01:28-0530').toISOString()).toBe('2020-04-07T12:31:28.000Z');
  });
  it('an impossible time is an Invalid Date, never a shifted one', () => {
    expect(Number.isNaN(decode('20251301T99:99:99').getTime())).toBe(true);
  });
});

describe('durations for the operator', () => {
  it.each([
    [45_000, '45 s'],
    [120_000, '2 min'],
    [5 * 3_600_000, '5 h'],
    [-(3 * 3_600_000 + 5 * 60_000), '3 h 5 min'],
    [50 * 3_600_000, '2 d 2 h'],
  ])('%d ms → %s', (ms, text) => {
    expect(describeDuration(ms)).toBe(text);
  });
});

describe('a lock whose holder died on this machine', () => {
  const me = { host: 'h', pid: process.pid, machine: 'a'.repeat(32), boot: 'b'.repeat(32) };
  const holder = (over: Partial<LockHolder>): LockHolder => ({ run: 'r', op: 'backup', host: 'h', pid: 1, since: new Date(0), expires: new Date(8.64e15), ...over });
  it('is stale at once when its process is gone or its boot is over, never otherwise', () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    expect(diedOnThisMachine(holder({ machine: me.machine, boot: me.boot, pid: Number(dead) }), me)).toBe(true);
    expect(diedOnThisMachine(holder({ machine: me.machine, boot: 'c'.repeat(32), pid: process.pid }), me)).toBe(true);
    // Alive (this very process), another machine, or an entry that does not say: wait for the expiry.
    expect(diedOnThisMachine(holder({ machine: me.machine, boot: me.boot, pid: process.ppid }), me)).toBe(false);
    expect(diedOnThisMachine(holder({ machine: 'd'.repeat(32), boot: me.boot, pid: Number(dead) }), me)).toBe(false);
    expect(diedOnThisMachine(holder({ pid: Number(dead) }), me)).toBe(false);
    expect(diedOnThisMachine(holder({ machine: me.machine, pid: Number(dead) }), { host: 'h', pid: 2 })).toBe(false);
  });
});
