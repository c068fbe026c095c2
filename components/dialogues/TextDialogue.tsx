/**
 * A dialogue of text that may be longer than the box: Up/Down, PgUp/PgDn, Home/End scroll
 * it, and the key help says where the view is. Lines may be marked (alert colour, bold).
 * Keys it does not use for scrolling go to `onKey` first; what that leaves unhandled gets
 * the shell's default (Esc/Left = back).
 */
import React, { useRef, useState } from 'react';
import { Box } from 'ink';
import { DialogueBox, DIALOGUE_WIDTH, Line } from '../Frame.js';
import type { ConsoleKey } from '../keys/decode.js';
import { useScreenKeys } from '../navigation.js';
import { textWidth, wrapText } from '../text.js';
import { guardLines } from '../../src/safe-text.js';

/** Text rows a dialogue shows at most (the body minus borders, key help and spacing). */
export const DIALOGUE_TEXT_ROWS = 16;

/** A paragraph of a text dialogue; plain strings are ordinary text. */
export type TextLine = string | { text: string; alert?: boolean; bold?: boolean };

export interface DisplayRow {
  text: string;
  alert: boolean;
  bold: boolean;
}

/** Paragraphs → rows of the dialogue's width (pure). */
export function layoutLines(lines: readonly TextLine[], width: number): DisplayRow[] {
  const rows: DisplayRow[] = [];
  for (const line of lines) {
    const l = typeof line === 'string' ? { text: line } : line;
    // Escaped before measuring, so a row is as wide as it is drawn.
    const text = guardLines(l.text);
    // A line that fits keeps its spacing (columns); only longer ones are word-wrapped.
    const wrapped = !text.includes('\n') && textWidth(text) <= width ? [text] : wrapText(text, width);
    for (const text of wrapped) rows.push({ text, alert: l.alert === true, bold: l.bold === true });
  }
  return rows;
}

/** The plain text of a dialogue's lines (what a saved report holds). */
export function plainText(lines: readonly TextLine[]): string {
  return lines.map((l) => (typeof l === 'string' ? l : l.text)).join('\n');
}

export interface TextDialogueProps {
  title: string;
  lines: readonly TextLine[];
  /** Key help before the scroll position, e.g. "<Enter> OK". */
  keys: string;
  /** Every line in the alert colour (failures). */
  alert?: boolean;
  /** Keys other than scrolling; return true when handled. */
  onKey?: (key: ConsoleKey) => boolean;
  rows?: number;
}

const SCROLL: Partial<Record<ConsoleKey['name'], 'line' | 'page' | 'all'>> = {
  up: 'line',
  down: 'line',
  pageUp: 'page',
  pageDown: 'page',
  home: 'all',
  end: 'all',
};

export function TextDialogue({ title, lines, keys, alert, onKey, rows = DIALOGUE_TEXT_ROWS }: TextDialogueProps) {
  const display = layoutLines(lines, DIALOGUE_WIDTH - 4);
  const maxTop = Math.max(0, display.length - rows);
  const [top, setTop] = useState(0);
  // Several keys may arrive in one read: each moves from where the previous one left the view.
  const topRef = useRef(0);
  const scrollable = maxTop > 0;

  useScreenKeys((key) => {
    const step = SCROLL[key.name];
    if (step) {
      const sign = key.name === 'up' || key.name === 'pageUp' || key.name === 'home' ? -1 : 1;
      const size = step === 'line' ? 1 : step === 'page' ? rows : display.length;
      topRef.current = Math.min(maxTop, Math.max(0, topRef.current + sign * size));
      setTop(topRef.current);
      return true;
    }
    return onKey?.(key) ?? false;
  });

  const shown = display.slice(top, top + rows);
  const where = `${top + 1}-${Math.min(display.length, top + rows)} of ${display.length}`;
  const full = `  (${where}, <PgUp/PgDn> Scroll)`;
  // The key help is one line: the long form when it fits, else just where the view is.
  const position = !scrollable ? '' : textWidth(keys + full) <= DIALOGUE_WIDTH - 4 ? full : `  (${where})`;
  return (
    <DialogueBox title={title} keys={`${keys}${position}`}>
      <Box flexDirection="column">
        {shown.map((row, i) => (
          <Line key={top + i} alert={alert === true || row.alert} bold={row.bold} wrap="truncate">
            {row.text === '' ? ' ' : row.text}
          </Line>
        ))}
      </Box>
    </DialogueBox>
  );
}
