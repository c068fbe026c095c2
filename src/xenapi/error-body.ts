/**
 * What an HTTP error answer says, as one short line for the operator: XAPI's 500 pages tell
 * why, a proxy's say who answered. Read within bounds (the host decides the body), markup and
 * control characters removed; TransportError scrubs any secret from it when it is made.
 */
import type http from 'node:http';
import { redactSecrets } from '../redact.js';

/** Bytes of an error body read at most. */
export const ERROR_BODY_READ_BYTES = 2048;
/** Characters of it kept. */
export const ERROR_BODY_TEXT_CHARS = 200;
/** How long the body is waited for (an error page comes with its status line). */
export const ERROR_BODY_WAIT_MS = 2000;

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'", nbsp: ' ' };

/** Text of an HTML or plain body, on one line, without markup or control characters. */
export function errorText(body: string): string {
  // Scrubbed before markup is taken apart (a password holding "<k>" would lose it and no longer
  // be recognised) and again after entities are decoded.
  let t = redactSecrets(body);
  if (/<[a-z!/][^>]*>/i.test(t)) {
    t = t
      .replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, ' ')
      .replace(/<!--[\s\S]*?-->/g, ' ')
      .replace(/<[^>]*>/g, ' ')
      .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, name: string) => {
        if (name[0] === '#') {
          const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
          return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : ' ';
        }
        return ENTITIES[name.toLowerCase()] ?? m;
      });
  }
  // Controls (C0, DEL, C1), bidi controls and line separators would move the operator's cursor
  // or reorder the line: they become spaces, and runs of spaces one.
  t = t.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g, ' ');
  t = redactSecrets(t.replace(/\s+/g, ' ').trim());
  return t.length > ERROR_BODY_TEXT_CHARS ? `${t.slice(0, ERROR_BODY_TEXT_CHARS - 1)}…` : t;
}

/**
 * Reads the start of `res`'s body (at most ERROR_BODY_READ_BYTES, waiting at most `waitMs`)
 * and returns its text (see errorText); '' when there is none. The rest is not read: the
 * response is destroyed if it had more.
 */
export function errorBodyExcerpt(res: http.IncomingMessage, waitMs = ERROR_BODY_WAIT_MS): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let finished = false;
    const finish = (complete: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      res.off('data', onData);
      if (!complete) res.destroy();
      const text = Buffer.concat(chunks, Math.min(size, ERROR_BODY_READ_BYTES)).toString('utf8');
      resolve(errorText(text));
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      if (size >= ERROR_BODY_READ_BYTES) finish(false);
    };
    const timer = setTimeout(() => finish(false), waitMs);
    // `complete` only says the whole body has arrived; it may still wait to be read.
    if (res.readableEnded || res.destroyed) {
      finish(true);
      return;
    }
    res.on('data', onData);
    res.once('end', () => finish(true));
    res.once('close', () => finish(res.complete));
    res.once('error', () => finish(false));
  });
}

/** "HTTP 500 Internal Server Error: <what the body says>" */
export async function statusDetail(res: http.IncomingMessage): Promise<string> {
  const reason = errorText(res.statusMessage ?? '');
  const body = await errorBodyExcerpt(res);
  const head = `HTTP ${res.statusCode ?? 0}${reason ? ` ${reason}` : ''}`;
  return body && body !== reason ? `${head}: ${body}` : head;
}
