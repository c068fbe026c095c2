/**
 * session.* (xen-api ocaml/xapi/xapi_session.ml): login_with_password with 2–4 parameters
 * depending on the profile (omitted `version` / `originator` defaulted as XAPI does),
 * logout, the local (emergency-mode) login and logout, and the generic getters
 * (get_this_host, get_uuid, …) from generic.ts. Over the local UNIX socket both logins trust
 * the caller as root (auth.ts).
 */
import { masterHost } from '../context.js';
import type { SimProfile } from '../profiles.js';
import type { MethodRegistry, ParamSpec } from '../rpc-dispatch.js';

export function registerSessionMethods(reg: MethodRegistry, profile: SimProfile): void {
  const params: ParamSpec[] = [
    { name: 'uname', type: 'string' },
    { name: 'pwd', type: 'string' },
  ];
  if (profile.loginMaxParams >= 3) params.push({ name: 'version', type: 'string', default: '1.1' });
  if (profile.loginMaxParams >= 4) params.push({ name: 'originator', type: 'string', default: '' });
  reg.add({
    name: 'session.login_with_password',
    session: false,
    params,
    impl: async ({ sim, localRoot }, a) =>
      sim.auth.login(a.uname as string, a.pwd as string, typeof a.originator === 'string' ? a.originator : '', masterHost(sim.db), localRoot ?? false),
  });
  reg.add({
    name: 'session.logout',
    params: [],
    impl: ({ sim, session }) => {
      sim.auth.logout(session);
      return '';
    },
  });
  // Published in miami (XenServer 4.1, the oldest profile), so every profile has both. The
  // session is only good on this host: it is kept in memory, outside the database.
  reg.add({
    name: 'session.slave_local_login_with_password',
    session: false,
    params: [
      { name: 'uname', type: 'string' },
      { name: 'pwd', type: 'string' },
    ],
    impl: async ({ sim, localRoot }, a) => sim.auth.localLogin(a.uname as string, a.pwd as string, localRoot ?? false),
  });
  reg.add({
    name: 'session.local_logout',
    params: [],
    impl: ({ sim, session }) => {
      sim.auth.localLogout(session);
      return '';
    },
  });
}
