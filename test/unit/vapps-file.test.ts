/**
 * The backup's vApp file read as untrusted input (src/dr/vapps.ts), and the restore summary's
 * vApp lines shown safely whatever the names hold.
 */
import { describe, expect, it } from 'vitest';
import { VAPPS_MAX_BYTES, buildVappsFile, parseVappsFile, vappsRecordedText, type VappEntry } from '../../src/dr/vapps.js';
import { vappsCountText, vappsLines } from '../../src/dr/restore-text.js';
import { forgedLines, rawUnsafe } from '../helpers/hostile-text.js';

const A = '11111111-2222-4333-8444-000000000001';
const B = '11111111-2222-4333-8444-000000000002';
const VM1 = 'aaaaaaaa-0000-4000-8000-000000000001';
const VM2 = 'aaaaaaaa-0000-4000-8000-000000000002';

const entry = (over: Partial<VappEntry> = {}): VappEntry => ({
  uuid: A,
  nameLabel: 'Web tier',
  nameDescription: 'front ends',
  vms: [{ uuid: VM1, order: 1, startDelay: 30, shutdownDelay: 10 }],
  ...over,
});
const file = (doc: unknown) => Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc));
const doc = (vapps: unknown[]) => ({ format: 'xsconsole-dr-vapps', schema: 1, vapps });

describe('the vApp file', () => {
  it('reads back what a backup writes', () => {
    const vapps = [entry(), entry({ uuid: B, nameLabel: 'DB', nameDescription: '', vms: [{ uuid: VM2, order: 0, startDelay: 0, shutdownDelay: 60 }] })];
    expect(parseVappsFile(Buffer.from(buildVappsFile(vapps)))).toEqual({ ok: true, vapps, warnings: [] });
  });

  it.each([
    ['too large, refused before it is parsed', Buffer.alloc(VAPPS_MAX_BYTES + 1, 0x20), /more than/],
    ['not JSON', file('{"format":'), /not JSON/],
    ['JSON of another kind', file({ schema: 1, vapps: [] }), /not an xsconsole-dr vApp file/],
    ['an unknown schema', file({ format: 'xsconsole-dr-vapps', schema: 2, vapps: [] }), /schema 2 is not one this version reads/],
    ['a schema that is no number', file({ format: 'xsconsole-dr-vapps', schema: '1', vapps: [] }), /schema string/],
    ['no list of vApps', file({ format: 'xsconsole-dr-vapps', schema: 1, vapps: {} }), /no list of vApps/],
  ])('is ignored whole when %s', (_what, bytes, why) => {
    const r = parseVappsFile(bytes);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.warning).toMatch(why);
  });

  it('skips each malformed vApp or member, says which, and keeps the rest', () => {
    const r = parseVappsFile(
      file(
        doc([
          null,
          { uuid: 'A', name_label: 'x', name_description: '', vms: [] },
          { uuid: B, name_label: 'x'.repeat(5000), name_description: '', vms: [] },
          { uuid: B, name_label: 'esc\u001b', name_description: '', vms: [] },
          { uuid: B, name_label: 'lone \ud800', name_description: '', vms: [] },
          { uuid: B, name_label: 'no VMs', name_description: '' },
          {
            uuid: A,
            name_label: 'ok',
            name_description: '',
            vms: [
              { uuid: VM1, order: 1, start_delay: 2, shutdown_delay: 3 },
              { uuid: VM2, order: 1e300, start_delay: 0, shutdown_delay: 0 },
              { uuid: VM2, order: 0, start_delay: null, shutdown_delay: 0 },
              { uuid: VM1, order: 0, start_delay: 0, shutdown_delay: 0 },
              'VM',
            ],
          },
          { uuid: A, name_label: 'again', name_description: '', vms: [] },
          { uuid: B, name_label: 'another', name_description: '', vms: [{ uuid: VM1, order: 0, start_delay: 0, shutdown_delay: 0 }] },
          { uuid: '__proto__', name_label: 'x', name_description: '', vms: [], constructor: 1 },
        ]),
      ),
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.vapps).toEqual([
      { uuid: A, nameLabel: 'ok', nameDescription: '', vms: [{ uuid: VM1, order: 1, startDelay: 2, shutdownDelay: 3 }] },
      { uuid: B, nameLabel: 'another', nameDescription: '', vms: [] },
    ]);
    expect(r.warnings).toHaveLength(13);
    expect(r.warnings.join('\n')).toMatch(/VM 4 of vApp "ok" .* in another vApp already/);
    expect(r.warnings.join('\n')).toMatch(/VM 1 of vApp "another" .* in another vApp already/);
    expect(r.warnings.join('\n')).toMatch(/vApp 11111111-2222-4333-8444-000000000001 is listed twice/);
  });
});

describe('what the summaries say', () => {
  const evil = 'Web\u001b[2J\r\nBackup Successful\u009b31m\u202e';
  it('never prints a raw control or bidi character of a name, nor lets it start a line', () => {
    const lines = vappsLines({
      state: 'read',
      warnings: [`VM 1 of vApp "${evil}" was skipped.`],
      vapps: [
        { uuid: A, name: evil, action: 'created', hereUuid: B, members: 2, restoredMembers: 2, note: evil },
        { uuid: B, name: evil, action: 'failed', members: 0, restoredMembers: 1, error: { code: evil, meaning: evil, nextStep: evil, vm: VM1 } },
      ],
    });
    const text = lines.map((l) => (typeof l === 'string' ? l : l.text)).join('\n');
    expect(rawUnsafe(text, { lines: true })).toEqual([]);
    expect(forgedLines(text)).toEqual([]);
    expect(text).toContain('Web\\u001b[2J\\u000d\\u000aBackup Successful');
  });

  it('counts by outcome, and says why nothing was recreated', () => {
    const a = { uuid: A, name: 'x', restoredMembers: 2 };
    expect(vappsCountText({ state: 'read', warnings: [], vapps: [{ ...a, action: 'created', members: 2 }, { ...a, action: 'created', members: 1 }, { ...a, action: 'reused', members: 1 }, { ...a, action: 'failed', members: 0 }] })).toBe(
      'vApps: 2 recreated (3 VMs), 1 reused (1 VM), 1 failed.',
    );
    expect(vappsCountText({ state: 'read', warnings: [], vapps: [{ ...a, action: 'would-create', members: 2 }] })).toBe('vApps: 1 would be recreated (2 VMs).');
    expect(vappsCountText({ state: 'unsupported', warnings: [], vapps: [] })).toMatch(/cannot be recreated on this pool/);
    expect(vappsCountText({ state: 'absent', warnings: [], vapps: [] })).toMatch(/none in this backup/);
    expect(vappsRecordedText({ supported: true, vapps: 2, vms: 5 })).toBe('2 vApps recorded (5 member VMs, with their order and delays).');
    expect(vappsRecordedText({ supported: false, vapps: 0, vms: 0 })).toMatch(/none recorded/);
  });
});
