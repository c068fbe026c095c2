/** Text layout helpers for fixed-width panes (pure). */
import { guardLines } from '../src/safe-text.js';

/**
 * Word-wraps `text` (paragraphs split on "\n") to `width` columns; long words are cut. Any
 * unsafe character left in the text is escaped first (so widths are those drawn); the line
 * breaks are the program's, names having been neutralised where they entered the text.
 */
export function wrapText(text: string, width: number): string[] {
  const w = Math.max(1, width);
  const out: string[] = [];
  for (const paragraph of guardLines(text).split('\n')) {
    if (paragraph.trim() === '') {
      out.push('');
      continue;
    }
    const indent = /^\s*/.exec(paragraph)![0].slice(0, Math.max(0, w - 1));
    let line = indent;
    for (const word of paragraph.trim().split(/\s+/)) {
      let rest = word;
      while (rest.length > 0) {
        const sep = line.length > indent.length ? ' ' : '';
        if (line.length + sep.length + rest.length <= w) {
          line += sep + rest;
          rest = '';
        } else if (line.length > indent.length) {
          out.push(line);
          line = indent;
        } else {
          const room = w - line.length;
          out.push(line + rest.slice(0, room));
          rest = rest.slice(room);
        }
      }
    }
    if (line.length > indent.length) out.push(line);
  }
  return out;
}

/** "[#######.............]" `width` wide, including the brackets. */
export function progressBar(done: number, total: number, width: number): string {
  const inner = Math.max(1, width - 2);
  const ratio = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const full = Math.round(ratio * inner);
  return `[${'#'.repeat(full)}${'.'.repeat(inner - full)}]`;
}

/** Left-aligned cell, cut to `width`. */
export function cell(s: string, width: number): string {
  return s.length > width ? `${s.slice(0, Math.max(0, width - 1))}~` : s.padEnd(width);
}

/** Right-aligned cell, cut to `width`. */
export function rcell(s: string, width: number): string {
  return s.length > width ? s.slice(0, width) : s.padStart(width);
}
