/** The environment given to child programs holds no credential (src/child-env.ts). */
import { afterEach, describe, expect, it } from 'vitest';
import { childEnv, isSecretVariable } from '../../src/child-env.js';
import { registerSecret, resetSecretsForTests } from '../../src/redact.js';

afterEach(() => resetSecretsForTests());

describe('childEnv', () => {
  it('drops XSDR_PASSWORD and variables named as credentials, keeps the rest, adds the extras', () => {
    const base = {
      PATH: '/usr/bin:/bin',
      HOME: '/root',
      PWD: '/work',
      LANG: 'C.UTF-8',
      SSH_AUTH_SOCK: '/tmp/agent',
      XSDR_PASSWORD: 'pw-from-env',
      XSDR_CACHE_DIR: '/var/cache/x',
      GITHUB_TOKEN: 't',
      AWS_SECRET_ACCESS_KEY: 'k',
      DB_PASSWD: 'p',
      MY_API_KEY: 'a',
      PASSPORT_NUMBER: 'not a secret by name',
    };
    const env = childEnv({ LC_ALL: 'C' }, base);
    expect(env).toEqual({
      PATH: '/usr/bin:/bin',
      HOME: '/root',
      PWD: '/work',
      LANG: 'C.UTF-8',
      SSH_AUTH_SOCK: '/tmp/agent',
      XSDR_CACHE_DIR: '/var/cache/x',
      PASSPORT_NUMBER: 'not a secret by name',
      LC_ALL: 'C',
    });
  });

  it('drops any variable whose value holds the password this process logged in with', () => {
    registerSecret('the-pool-password');
    expect(isSecretVariable('SOMETHING', 'x the-pool-password y')).toBe(true);
    expect(childEnv({}, { A: 'the-pool-password', B: 'b' })).toEqual({ B: 'b' });
  });

  it('reads the real process environment by default', () => {
    const saved = process.env['XSDR_PASSWORD'];
    process.env['XSDR_PASSWORD'] = 'from-the-real-env';
    try {
      const env = childEnv();
      expect(env['XSDR_PASSWORD']).toBeUndefined();
      expect(env['PATH']).toBe(process.env['PATH']);
    } finally {
      if (saved === undefined) delete process.env['XSDR_PASSWORD'];
      else process.env['XSDR_PASSWORD'] = saved;
    }
  });
});
