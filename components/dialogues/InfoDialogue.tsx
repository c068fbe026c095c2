/**
 * A message with an OK: results, failures, notices. Long texts scroll (Up/Down, PgUp/PgDn).
 * Enter, Esc or Left closes it.
 */
import React, { useState } from 'react';
import { Box } from 'ink';
import { DialogueBox, DIALOGUE_WIDTH, Line } from '../Frame.js';
import { isBackKey, useScreen, useScreenKeys } from '../navigation.js';
import { wrapText } from '../text.js';

/** Text rows a dialogue shows at most (the body minus borders, key help and spacing). */
export const DIALOGUE_TEXT_ROWS = 16;

export interface InfoDialogueProps {
  title: string;
  text: string;
  /** Failure or warning: drawn in the alert colour. */
  alert?: boolean;
  onClose?: () => void;
}

export function InfoDialogue({ title, text, alert, onClose }: InfoDialogueProps) {
  const screen = useScreen();
  const lines = wrapText(text, DIALOGUE_WIDTH - 4);
  const rows = DIALOGUE_TEXT_ROWS;
  const maxTop = Math.max(0, lines.length - rows);
  const [top, setTop] = useState(0);
  const scrollable = maxTop > 0;

  useScreenKeys((key) => {
    if (key.name === 'enter' || isBackKey(key)) {
      screen.close();
      onClose?.();
      return true;
    }
    const move: Partial<Record<string, number>> = { up: -1, down: 1, pageUp: -rows, pageDown: rows, home: -lines.length, end: lines.length };
    const delta = move[key.name];
    if (delta !== undefined) {
      setTop((t) => Math.min(maxTop, Math.max(0, t + delta)));
      return true;
    }
    return false;
  });

  const shown = lines.slice(top, top + rows);
  const position = scrollable ? `  (${top + 1}-${Math.min(lines.length, top + rows)} of ${lines.length}, <PgUp/PgDn> Scroll)` : '';
  return (
    <DialogueBox title={title} keys={`<Enter> OK${position}`}>
      <Box flexDirection="column">
        {shown.map((l, i) => (
          <Line key={top + i} alert={alert === true} wrap="truncate">
            {l === '' ? ' ' : l}
          </Line>
        ))}
      </Box>
    </DialogueBox>
  );
}
