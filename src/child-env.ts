/**
 * The environment of every program this one starts (mkfs.ext3, e2fsck, logger, …).
 *
 * A child inherits whatever it is given, and e2fsprogs or a logger have no business with the
 * pool's password: the environment is copied without XSDR_PASSWORD, without any variable whose
 * name says it holds a credential, and without any variable whose value holds a secret this
 * process logged in with (src/redact.ts), whatever its name.
 */
import { containsSecret } from './redact.js';

/** The variable the password may come from (src/credentials.ts). */
export const PASSWORD_VARIABLE = 'XSDR_PASSWORD';

/** Names that, as a whole word of the variable name, mark a credential (AWS_SECRET_ACCESS_KEY, GITHUB_TOKEN, …). */
const SECRET_NAME = /(?:^|_)(?:PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|CREDENTIALS?|API_?KEY|PRIVATE_?KEY|AUTH_?KEY)(?:_|$)/i;

export function isSecretVariable(name: string, value: string | undefined): boolean {
  return name === PASSWORD_VARIABLE || SECRET_NAME.test(name) || (value !== undefined && value !== '' && containsSecret(value));
}

/** `base` (the process environment) without secrets, plus `extra` (e.g. LC_ALL=C). */
export function childEnv(extra: Readonly<Record<string, string>> = {}, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(base)) {
    if (value === undefined || isSecretVariable(name, value)) continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}
