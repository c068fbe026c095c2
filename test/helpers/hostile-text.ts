/**
 * Hostile names for the terminal-safety tests, and the checks on what reached an output.
 * The list of characters that must never reach a terminal raw is this file's own (it does
 * not reuse src/safe-text.ts), so a mistake there cannot pass here.
 */
import type { SimHandle } from '../../src/sim/index.js';

/** The text a hostile name tries to put at the start of a line of its own. */
export const FORGED = 'Backup Successful';

/** Names a hostile pool gives its objects (the simulator's database holds them as they are). */
export const HOSTILE = {
  vms: ['\r\nBackup Successful', '\u001b[2J\u001b[Hwiped', '\u009b31mred\u009b0m', '\u202eevil\u202c.exe'],
  sr: '\nBackup Successful\u2028Backup Successful',
  srDescription: '\u001b[1;31mdescr\r\u0085Backup Successful',
  vdis: ['lone\rCR', 'tab\tC0\u0001\u0007\u0008\u007f', '\u2066iso\u2069\u200e\u200f\u061c'],
  networks: ['\u2029Backup Successful', '\u009d0;title\u009c', '\u202eten\u202c'],
  pool: '\u001b]0;pwned\u0007\u0085Backup Successful',
  hostname: '\u009b2J\u202emaster',
} as const;

/** Ranges of code points that must not reach a terminal raw. */
const FORBIDDEN: Array<[number, number]> = [
  [0x00, 0x1f], // C0: TAB, LF, CR, ESC…
  [0x7f, 0x9f], // DEL, C1: CSI U+009B, OSC U+009D, NEL U+0085…
  [0x061c, 0x061c],
  [0x200b, 0x200b],
  [0x200e, 0x200f],
  [0x2028, 0x2029],
  [0x202a, 0x202e],
  [0x2066, 0x2069],
  [0xfeff, 0xfeff],
  [0xd800, 0xdfff],
];

/**
 * The forbidden characters in `text`, as U+XXXX. With `lines`, LF separates lines and is
 * allowed; with `sgr`, the colour sequences Ink itself writes (ESC [ … m) are allowed.
 */
export function rawUnsafe(text: string, opts: { lines?: boolean; sgr?: boolean } = {}): string[] {
  const s = opts.sgr ? text.replace(/\u001b\[[0-9;]*m/g, '') : text;
  const out: string[] = [];
  for (let i = 0; i < s.length; i++) {
    const cp = s.codePointAt(i)!;
    if (cp > 0xffff) i++;
    if (opts.lines && cp === 0x0a) continue;
    if (FORBIDDEN.some(([lo, hi]) => cp >= lo && cp <= hi)) out.push(`U+${cp.toString(16).padStart(4, '0')} at ${i}`);
  }
  return out;
}

/**
 * Lines that begin (after blanks, quotes or brackets) with the forged text. Every character a
 * terminal may take as the start of a line splits: CR (it returns to the line's start), LF,
 * VT, FF, NEL and the Unicode separators.
 */
export function forgedLines(text: string, forged = FORGED): string[] {
  return text.split(/\r\n|[\n\r\v\f\u0085\u2028\u2029]/).filter((l) => l.replace(/^[\s"'(\[│]*/, '').startsWith(forged));
}

/** Names the pool's objects after HOSTILE: VMs, the default SR and its VDIs, networks, the pool, the master. */
export function nameHostilePool(sim: SimHandle): { srUuid: string } {
  const db = sim.db;
  const [poolRef, pool] = [...db.allRecords('pool').entries()][0]!;
  db.set('pool', poolRef, 'name_label', HOSTILE.pool);
  db.set('host', pool.master, 'hostname', HOSTILE.hostname);
  const vms = db.where('VM', (v) => !v.is_control_domain && !v.is_a_template && !v.is_a_snapshot);
  vms.forEach(({ ref }, i) => db.set('VM', ref, 'name_label', HOSTILE.vms[i % HOSTILE.vms.length]!));
  const srRef = pool.default_SR;
  db.set('SR', srRef, 'name_label', HOSTILE.sr);
  db.set('SR', srRef, 'name_description', HOSTILE.srDescription);
  db.get('SR', srRef).VDIs.forEach((ref, i) => db.set('VDI', ref, 'name_label', HOSTILE.vdis[i % HOSTILE.vdis.length]!));
  [...db.allRecords('network').keys()].forEach((ref, i) => db.set('network', ref, 'name_label', HOSTILE.networks[i % HOSTILE.networks.length]!));
  return { srUuid: db.get('SR', srRef).uuid };
}
