import { createHash } from 'node:crypto';

/**
 * The MAC XAPI derives for VIF `device` of a VM with mac_seed `seed`, written out from its
 * description (xen-api ocaml/xapi/xapi_vif_helpers.ml gen_mac): MD5 chained 2·device+1
 * times gives four bytes, one more MD5 the last two; locally administered, unicast.
 */
export function expectedMac(seed: string, device: number): string {
  let d = Buffer.from(seed);
  for (let n = 0; n < 2 * device + 1; n++) d = createHash('md5').update(d).digest();
  const e = createHash('md5').update(d).digest();
  const b = [d[0]!, d[1]!, d[2]!, d[3]!, e[1]!, e[2]!];
  b[0] = (b[0]! | 2) & 0xfe;
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}
