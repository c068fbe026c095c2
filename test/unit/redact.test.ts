/**
 * The password never survives in text the program made from what a host sent: redactSecrets
 * removes it in every form a host could echo it, with the documented rule for short passwords,
 * and the error classes apply it as they are made.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  REDACTED,
  containsSecret,
  declarePublic,
  redactDeep,
  redactSecrets,
  registerSecret,
  resetSecretsForTests,
} from '../../src/redact.js';
import { TransportError, XenApiError } from '../../src/xenapi/index.js';
import { explainError } from '../../src/failure/index.js';

afterEach(() => resetSecretsForTests());

const LONG = 'Tr0ub4dor&3 <x> "q"';

describe('redactSecrets', () => {
  it('removes a password of 8 or more characters wherever it occurs, in every form a host could echo', () => {
    registerSecret(LONG);
    const forms = [
      LONG,
      'Tr0ub4dor&amp;3 &lt;x&gt; &quot;q&quot;', // XML / HTML
      'Tr0ub4dor&amp;3 &lt;x&gt; "q"',
      encodeURIComponent(LONG),
      encodeURIComponent(LONG).replace(/%20/g, '+'),
      JSON.stringify(LONG).slice(1, -1),
    ];
    for (const f of forms) {
      const text = `login failed for pw=${f}; glued${f}glued`;
      const out = redactSecrets(text);
      expect(out, f).toBe(`login failed for pw=${REDACTED}; glued${REDACTED}glued`);
      expect(containsSecret(text)).toBe(true);
      expect(containsSecret(out)).toBe(false);
    }
  });

  it('a long password cut short by a length limit is removed: no half of it shows where the text is cut', () => {
    const pw = 'correct-horse-battery-staple-42';
    registerSecret(pw);
    expect(redactSecrets(`got '${pw.slice(0, 20)}'`)).toBe(`got '${REDACTED}'`); // a decoder's message
    expect(redactSecrets(`page: ${pw.slice(0, 16)}…`)).toBe(`page: ${REDACTED}…`); // an error page's line
    expect(redactSecrets(`detail ${pw.slice(0, 25)}`)).toBe(`detail ${REDACTED}`); // cut at the end
    // Less than half of it, and pieces that are not where a text was cut, stay as they are.
    expect(redactSecrets(`got '${pw.slice(0, 12)}'`)).toBe(`got '${pw.slice(0, 12)}'`);
    expect(redactSecrets('a battery and a horse')).toBe('a battery and a horse');
  });

  it('a password holding an ordinary word does not take that word out of other text', () => {
    registerSecret('wrong-password');
    expect(redactSecrets('Check the user name and password and log in again')).toBe('Check the user name and password and log in again');
    expect(redactSecrets('you typed wrong-password')).toBe(`you typed ${REDACTED}`);
  });

  it('a short password only where it stands alone; the whole text always', () => {
    registerSecret('demo7');
    expect(redactSecrets('wrong password demo7')).toBe(`wrong password ${REDACTED}`);
    expect(redactSecrets('pw=demo7;user=root')).toBe(`pw=${REDACTED};user=root`);
    expect(redactSecrets('"demo7"')).toBe(`"${REDACTED}"`);
    // Inside a longer word it tells nothing and is left, so that text stays readable.
    expect(redactSecrets('demo7x and xdemo7 and demo77')).toBe('demo7x and xdemo7 and demo77');
    registerSecret('a');
    expect(redactSecrets('a')).toBe(REDACTED);
    expect(redactSecrets('a cat')).toBe(`${REDACTED} cat`);
  });

  it('never registers the empty password (local socket) or a public one (the demo pool)', () => {
    registerSecret('');
    expect(redactSecrets('')).toBe('');
    expect(redactSecrets('anything')).toBe('anything');
    declarePublic('demo');
    registerSecret('demo');
    expect(redactSecrets('demo pool: root / demo')).toBe('demo pool: root / demo');
    registerSecret('hunter2hunter2');
    declarePublic('hunter2hunter2'); // declared public later: forgotten
    expect(redactSecrets('hunter2hunter2')).toBe('hunter2hunter2');
  });

  it('redactDeep cleans every string of a JSON value, keys included, and the JSON stays valid', () => {
    registerSecret('s3cret-pa55');
    const v = { error: { meaning: 'x s3cret-pa55 y', list: ['s3cret-pa55', 3, null, true] }, 's3cret-pa55': 'k' };
    const out = redactDeep(v);
    const text = JSON.stringify(out);
    expect(text).not.toContain('s3cret-pa55');
    expect(JSON.parse(text)).toEqual({ error: { meaning: `x ${REDACTED} y`, list: [REDACTED, 3, null, true] }, [REDACTED]: 'k' });
    expect(v.error.meaning).toBe('x s3cret-pa55 y'); // the original is left alone
  });
});

describe('errors made from what a host sent', () => {
  it('a XenApiError (fault code and params) carries no trace of the password', () => {
    registerSecret('pa55w0rd!long');
    const err = new XenApiError(['pa55w0rd!long', 'user root password pa55w0rd!long refused', 'pa55w0rd!long'], 'VM.get_all_records');
    const all = `${String(err)} ${err.message} ${err.code} ${err.params.join(' ')} ${JSON.stringify(err)} ${JSON.stringify(explainError(err))}`;
    expect(all).not.toContain('pa55w0rd!long');
    expect(err.params[0]).toContain(REDACTED);
  });

  it('a TransportError (message, target, detail) carries no trace of the password', () => {
    registerSecret('pa55w0rd!long');
    const err = new TransportError('http://h/pa55w0rd!long answered HTTP 500', {
      kind: 'http-status',
      target: 'http://h/pa55w0rd!long',
      status: 500,
      detail: 'HTTP 500 Internal pa55w0rd%21long: bad password pa55w0rd!long',
    });
    const all = `${String(err)} ${err.message} ${err.target} ${err.detail} ${JSON.stringify(err)} ${JSON.stringify(explainError(err))}`;
    expect(all).not.toContain('pa55w0rd');
  });
});
