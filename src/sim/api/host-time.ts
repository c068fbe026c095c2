/**
 * host.get_servertime and host.get_server_localtime, as XAPI answers them
 * (ocaml/xapi/xapi_host.ml, ocaml/libs/clock/date.ml):
 *  - get_servertime: the host's clock in UTC, "20200407T09:01:28Z" (published in API 1.3,
 *    XenServer 5.0 "orlando");
 *  - get_server_localtime: the host's local wall clock with the zone stripped,
 *    "20200407T07:01:28" (published in API 1.8, XenServer 5.6 FP1 "cowley").
 * A profile whose API version predates a call does not have it (MESSAGE_METHOD_UNKNOWN).
 * Both read the simulator's master clock (clock.ts); a call naming another host is
 * forwarded to it in XAPI, and the simulator's pool has one clock for all its hosts.
 */
import { XmlRpcDateTime } from '../codec.js';
import type { SimProfile } from '../profiles.js';
import type { MethodRegistry } from '../rpc-dispatch.js';

const atLeast = (p: SimProfile, major: number, minor: number) => p.apiMajor > major || (p.apiMajor === major && p.apiMinor >= minor);

export function registerHostTimeMethods(reg: MethodRegistry, profile: SimProfile): void {
  const host = { name: 'host', type: 'ref' as const };
  if (atLeast(profile, 1, 3)) {
    reg.add({
      name: 'host.get_servertime',
      params: [host],
      async: true,
      impl: ({ sim }, a) => {
        sim.db.get('host', a.host as string); // HANDLE_INVALID for a ref that is not a host
        return XmlRpcDateTime.fromDate(sim.clock.now());
      },
    });
  }
  if (atLeast(profile, 1, 8)) {
    reg.add({
      name: 'host.get_server_localtime',
      params: [host],
      async: true,
      impl: ({ sim }, a) => {
        sim.db.get('host', a.host as string);
        return XmlRpcDateTime.zoneless(sim.clock.wallClock());
      },
    });
  }
}
