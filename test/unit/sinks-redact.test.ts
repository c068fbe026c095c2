/**
 * Every output sink removes the password a host may have sent back, whatever else it does to
 * the text: command text and --json, console rows, saved reports, the runner's result file,
 * syslog messages and error texts. A name holding it is neutralised where it enters the text
 * (a backslash escaped): that form is recognised too.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { REDACTED, registerSecret, resetSecretsForTests } from '../../src/redact.js';
import { neutralise } from '../../src/safe-text.js';
import { commandJson, commandText, consoleRow, errorText, recordedJson, savedReportText, syslogMessage } from '../../src/text-sinks.js';

afterEach(() => resetSecretsForTests());

const SECRET = 'ab\\cd-Secret-42';

describe('text sinks', () => {
  it('every sink removes the password, as typed and as a neutralised name shows it', () => {
    registerSecret(SECRET);
    const line = `Using SR: "${neutralise(`NFS ${SECRET}`)}" after ${SECRET} failed`;
    for (const [name, out] of [
      ['commandText', commandText(`${line}\nnext line`)],
      ['consoleRow', consoleRow(line)],
      ['savedReportText', savedReportText(line)],
      ['syslogMessage', syslogMessage(line)],
      ['errorText', errorText(line)],
    ] as const) {
      expect(out, name).not.toContain('Secret-42');
      expect(out, name).toContain(REDACTED);
    }
    for (const [name, out] of [
      ['commandJson', commandJson({ sr: { name: `NFS ${SECRET}` }, failures: [{ message: `bad ${SECRET}` }] })],
      ['recordedJson', recordedJson({ error: { meaning: `password ${SECRET} refused` } })],
    ] as const) {
      expect(out, name).not.toContain('Secret-42');
      expect(() => JSON.parse(out), name).not.toThrow();
      expect(out, name).toContain(REDACTED);
    }
  });
});
