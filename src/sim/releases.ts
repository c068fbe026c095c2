/**
 * XenAPI releases in order, as the datamodel's lifecycles name them: first the code names
 * of xen-api ocaml/idl/datamodel_types.ml (`release_order`, those with a code name), then
 * xapi version numbers ("1.250.0" … "24.10.0"), which ocaml/idl/datamodel_lifecycle.ml
 * gives to everything added after the last code-named release of the stockholm line.
 *
 * A field exists from the first release of its lifecycle (prototyped or published) on;
 * "deprecated" and "removed" on a field change its documentation, not the record XAPI
 * marshals (ocaml/idl/ocaml_backend/gen_server.ml drops removed messages only), so a field
 * never leaves a record once it is in it.
 */

/** Code-named releases, oldest first (datamodel_types.ml; API version and branding in comments). */
export const CODE_NAMED_RELEASES = [
  'rio', //                  1.1  XenServer 4.0
  'miami', //                1.2  XenServer 4.1
  'symc', //                 1.2  XenServer 4.1.1
  'orlando', //              1.3  XenServer 5.0
  'orlando-update-1', //     1.3  XenServer 5.0 Update 1
  'george', //               1.6  XenServer 5.5
  'midnight-ride', //        1.7  XenServer 5.6
  'cowley', //               1.8  XenServer 5.6 FP1
  'boston', //               1.9  XenServer 6.0
  'tampa', //                1.10 XenServer 6.1
  'clearwater', //           2.0  XenServer 6.2
  'vgpu-tech-preview', //    2.0  XenServer 6.2 SP1 Tech-Preview
  'vgpu-productisation', //  2.1  XenServer 6.2 SP1
  'clearwater-felton', //    2.2  XenServer 6.2 SP1 Hotfix 4
  'clearwater-whetstone', // 2.2  XenServer 6.2 SP1 Hotfix 11
  'creedence', //            2.3  XenServer 6.5
  'cream', //                2.4  XenServer 6.5 SP1
  'indigo', //               2.4  XenServer 6.5 SP1 Hotfix 31
  'dundee', //               2.5  XenServer 7.0
  'ely', //                  2.6  XenServer 7.1
  'falcon', //               2.7  XenServer 7.2
  'inverness', //            2.8  XenServer 7.3
  'jura', //                 2.9  XenServer 7.4
  'kolkata', //              2.10 XenServer 7.5
  'lima', //                 2.11 XenServer 7.6
  'naples', //               2.12 Citrix Hypervisor 8.0
  'oslo', //                 2.13 unreleased
  'quebec', //               2.14 Citrix Hypervisor 8.1
  'stockholm', //            2.15 Citrix Hypervisor 8.2
  'stockholm_psr', //        2.15 Citrix Hypervisor 8.2 Hotfix 2
] as const;

export type CodeNamedRelease = (typeof CODE_NAMED_RELEASES)[number];

/**
 * A release: a code name above, or a xapi version "major.minor.patch". The later code
 * names (nile-preview, nile, orinoco) are left out on purpose: the datamodel dates what
 * came with them by xapi version, and where they sit among those versions is not stated.
 */
export type Release = CodeNamedRelease | `${number}.${number}.${number}`;

const VERSION_RE = /^(\d+)\.(\d+)\.(\d+)$/;

function rankOf(r: string): number[] | undefined {
  const i = (CODE_NAMED_RELEASES as readonly string[]).indexOf(r);
  if (i >= 0) return [0, i];
  const m = VERSION_RE.exec(r);
  return m ? [1, Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

export function isRelease(r: string): r is Release {
  return rankOf(r) !== undefined;
}

/** <0, 0, >0 as a is older than, the same as, or newer than b; throws on an unknown release. */
export function compareReleases(a: string, b: string): number {
  const ra = rankOf(a);
  const rb = rankOf(b);
  if (!ra || !rb) throw new Error(`unknown XenAPI release "${ra ? b : a}"`);
  for (let i = 0; i < Math.max(ra.length, rb.length); i++) {
    const d = (ra[i] ?? 0) - (rb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** True when something that came in `since` is there in `release`. */
export function inRelease(since: string, release: string): boolean {
  return compareReleases(since, release) <= 0;
}
