/**
 * The same failure reads the same in every front end: CLI text, --json and the console's
 * failure dialogues all come from src/app/operator-failure.ts. Each case is the error the
 * code throws for that situation; a bug is said plainly, its stack only in the log file.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { XenApiError, TransportError } from '../../src/xenapi/index.js';
import { BackupStepError } from '../../src/dr/backup.js';
import { NoBackupVdiError } from '../../src/dr/backup-vdi.js';
import { legacyScanFoundNone, noBackupVdiError } from '../../src/dr/backup-source.js';
import { DeviceRefusedError } from '../../src/dr/volume/attach.js';
import { operatorFailure } from '../../src/app/index.js';
import { bugLogDir } from '../../src/app/bug-log.js';
import { printFailure } from '../../src/commands/output.js';
import { backupFailureText } from '../../components/backup/summary.js';
import { restoreFailureText } from '../../components/restore/texts.js';

const SR = { ref: 'OpaqueRef:sr', uuid: '3f1c1a4e-0000-4000-8000-000000000001', nameLabel: 'NFS DR' };

const CASES: Array<[string, () => unknown, string]> = [
  ['no backup VDI (backup --no-create)', () => new NoBackupVdiError(SR, 'e3f4c5d6-0000-5000-8000-000000000002'), 'NO_BACKUP_VDI'],
  ['no backup VDI (restore, list)', () => noBackupVdiError(SR), 'NO_BACKUP_VDI'],
  ['no backup VDI after the legacy scan', () => legacyScanFoundNone(SR, 4), 'NOT_A_BACKUP'],
  ['wrong password', () => new XenApiError(['SESSION_AUTHENTICATION_FAILED', 'root', 'Authentication failure'], 'session.login_with_password'), 'SESSION_AUTHENTICATION_FAILED'],
  ['SR full', () => new BackupStepError('vdi', new XenApiError(['SR_FULL', '1073741824', '10485760'], 'VDI.create')), 'SR_FULL'],
  ['VDI attach refused', () => new BackupStepError('attach', new DeviceRefusedError('/dev/sm/backend/x is not a plain device name.')), 'DEVICE_REFUSED'],
  [
    'VDI attach refused by the storage backend',
    () => new BackupStepError('attach', new XenApiError(['SR_BACKEND_FAILURE_46', '', 'The VDI is not available [opterr=VDI locked]', ''], 'Async.VBD.plug')),
    'SR_BACKEND_FAILURE_46',
  ],
  ['unreachable host', () => new TransportError('connect EHOSTUNREACH 10.9.8.7:443', { kind: 'unreachable', target: 'https://10.9.8.7' }), 'TRANSPORT_UNREACHABLE'],
  [
    'TLS fingerprint mismatch',
    () => new TransportError('certificate fingerprint mismatch', { kind: 'tls-fingerprint-mismatch', target: 'https://pool.example', detail: 'AA:BB' }),
    'TRANSPORT_TLS_FINGERPRINT_MISMATCH',
  ],
  ['a bug', () => new TypeError("Cannot read properties of undefined (reading 'uuid')"), 'INTERNAL_BUG'],
];

function capture(err: unknown, json: boolean): string[] {
  const out: string[] = [];
  printFailure({ out: (t) => out.push(t), err: (t) => out.push(t) }, err, json);
  return out;
}

describe('one failure, one text: CLI text, --json and the console', () => {
  for (const [what, make, code] of CASES) {
    it(what, () => {
      const err = make();
      const [json] = capture(err, true);
      const e = (JSON.parse(json!) as { error: { code: string; meaning: string; nextStep: string; kind: string } }).error;
      expect(e.code).toBe(code);
      expect(e.meaning.length).toBeGreaterThan(10);
      expect(e.nextStep.length).toBeGreaterThan(10);
      expect(e.nextStep).not.toMatch(/\bF\d\b|press /i); // no key names below the screens
      expect(capture(err, false)).toEqual([`Error: ${e.code}: ${e.meaning}\n${e.nextStep}`]);
      const f = operatorFailure(err);
      expect(backupFailureText(f)).toBe(`Metadata Backup failed: ${e.code}: ${e.meaning}\n\n${e.nextStep}`);
      expect(restoreFailureText(f)).toBe(`Metadata Restore failed: ${e.code}: ${e.meaning}\n\n${e.nextStep}`);
      expect(e.kind).toBe(code === 'INTERNAL_BUG' ? 'bug' : 'expected');
    });
  }

  it("a storage backend's failure: its reason, without XAPI's empty params or the Async. prefix", () => {
    const f = operatorFailure(new XenApiError(['SR_BACKEND_FAILURE_46', '', 'The VDI is not available [opterr=VDI locked]', ''], 'Async.VBD.plug'));
    expect(f.meaning).toBe("The storage repository's backend refused VBD.plug: The VDI is not available [opterr=VDI locked].");
    expect(operatorFailure(new XenApiError(['SR_BACKEND_FAILURE', '', '', ''])).meaning).toBe("The storage repository's backend refused the operation.");
  });

  it('a bug: said plainly with the log file that holds its stack; no stack on screen', () => {
    const err = new TypeError('boom in the planner');
    const [text] = capture(err, false);
    const log = `${bugLogDir()}/errors.log`;
    expect(text).toContain('This is a bug in the program');
    expect(text).toContain(log);
    expect(text).not.toMatch(/\n\s+at /);
    const written = readFileSync(log, 'utf8');
    expect(written).toContain('TypeError: boom in the planner');
    expect(written).toMatch(/\n\s+at .*failure-parity/);
  });
});
