/**
 * Characters XML 1.0 forbids (C0 controls other than TAB, LF and CR; U+FFFE and U+FFFF),
 * carried through a strict parser without being lost.
 *
 * XAPI's XML-RPC writer (the rpc library's Xmlrpc module) escapes only < > & " in string
 * values and drops the C0 controls there, but writes struct member names — map keys such as
 * other_config's, which guests and users choose — as they are; its writer before mid-2015 also
 * left a value unescaped when its only special character was the last one. Other hosts and
 * crafted files may put any of them anywhere. A strict XML 1.0 parser refuses the whole
 * document on the first such character: one odd key failed a whole VM.get_all_records, and
 * with it a whole backup.
 *
 * Before parsing, each forbidden character is masked as a private-use character (allowed in
 * XML 1.0, and never a line end, so nothing is normalised); private-use characters of the
 * mask's own range are escaped first, so masking is reversible for any text. After parsing,
 * text and names are unmasked to the exact original. Every forbidden character is one UTF-16
 * unit, so chunks of decoded text can be masked one at a time.
 */

/** U+E000 escapes a genuine character of the mask range; U+E001 + n stands for masked n. */
const ESC = 0xe000;
const MASK_BASE = 0xe001;
/** Masked codes: 0x00–0x1F are C0 controls, 0x20 is U+FFFE, 0x21 is U+FFFF. */
const MASK_LAST = MASK_BASE + 0x21;

const TO_MASK = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff\ue000-\ue022]/g;
const MASKED = /[\ue000-\ue022]/;

function maskOne(ch: string): string {
  const c = ch.charCodeAt(0);
  if (c >= ESC && c <= MASK_LAST) return String.fromCharCode(ESC, c);
  if (c === 0xfffe) return String.fromCharCode(MASK_BASE + 0x20);
  if (c === 0xffff) return String.fromCharCode(MASK_BASE + 0x21);
  return String.fromCharCode(MASK_BASE + c);
}

/** `text` with every XML-forbidden character masked (the same string when there is none). */
export function maskForbiddenChars(text: string): string {
  TO_MASK.lastIndex = 0;
  return TO_MASK.test(text) ? text.replace(TO_MASK, maskOne) : text;
}

const FORBIDDEN = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;

/** How many XML-forbidden characters raw `text` holds. */
export function countForbiddenChars(text: string): number {
  return text.match(FORBIDDEN)?.length ?? 0;
}

/** The original text of masked `text`. */
export function unmaskForbiddenChars(text: string): string {
  if (!MASKED.test(text)) return text;
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < ESC || c > MASK_LAST) continue;
    out += text.slice(from, i);
    if (c === ESC) {
      // An escaped genuine character: the next one is itself (a lone trailing ESC is kept).
      if (i + 1 < text.length) i++;
      out += text[i];
    } else {
      const n = c - MASK_BASE;
      out += n === 0x20 ? '\ufffe' : n === 0x21 ? '\uffff' : String.fromCharCode(n);
    }
    from = i + 1;
  }
  return out + text.slice(from);
}
