/**
 * A list to choose from inside a dialogue (xsconsole's menu dialogues: "Available Metadata
 * Backups", restore methods, schedule frequencies): Up/Down wrap, first-letter jump,
 * PgUp/PgDn, Enter/Right choose, Esc/Left cancel. Choosing replaces the dialogue with the
 * screen `next` returns (or closes it when `next` returns null); or, with `onChoose`, leaves
 * the stack to the caller (e.g. to push the next step so Left comes back here).
 */
import React from 'react';
import { Box } from 'ink';
import { DialogueBox, DIALOGUE_WIDTH, Line, PANE_CONTENT_ROWS } from '../Frame.js';
import type { ConsoleKey } from '../keys/decode.js';
import { MenuList } from '../menu/MenuList.js';
import { useMenu } from '../menu/useMenu.js';
import { isSelectKey, useScreen, useScreenKeys } from '../navigation.js';
import { wrapText } from '../text.js';
import { layoutLines, type TextLine } from './TextDialogue.js';

/** Rows inside a dialogue as tall as the body: a full pane's, less the margin above the key help. */
const DIALOGUE_CONTENT_ROWS = PANE_CONTENT_ROWS - 1;

export interface Choice<T> {
  label: string;
  value: T;
}

interface ChoiceDialogueBase<T> {
  title: string;
  /** Text above the list (wrapped). */
  prompt?: string;
  /** Draw the prompt in the alert colour (a warning). */
  promptAlert?: boolean;
  /** Bold line naming the list (xsconsole's menu title). */
  listTitle?: string;
  choices: readonly Choice<T>[];
  /** Shown when `choices` is empty. */
  empty?: string;
  /** Lines about the highlighted choice, below the list (wrapped, never cut). */
  details?: (value: T) => readonly TextLine[];
  /** Lines below the list (details, warnings). */
  notes?: readonly TextLine[];
  /** Key help (default "<Enter> OK  <Esc> Cancel"). */
  keys?: string;
  rows?: number;
  /** Keys the list does not use (e.g. Esc cancelling a whole flow), with the highlighted choice's value; true when handled. */
  onKey?: (key: ConsoleKey, highlighted: T | undefined) => boolean;
}

export type ChoiceDialogueProps<T> = ChoiceDialogueBase<T> &
  ({ next: (value: T) => React.ReactElement | null; onChoose?: never } | { onChoose: (value: T) => void; next?: never });

export function ChoiceDialogue<T>(props: ChoiceDialogueProps<T>) {
  const { title, prompt, promptAlert, listTitle, choices, empty = '<None>', details, notes, keys = '<Enter> OK  <Esc> Cancel', rows = 10, onKey } = props;
  const screen = useScreen();
  const labels = choices.length > 0 ? choices.map((c) => c.label) : [empty];
  const width = DIALOGUE_WIDTH - 4;
  const promptRows = prompt !== undefined ? wrapText(prompt, width) : [];
  const titleRows = listTitle !== undefined ? wrapText(listTitle, width) : [];
  // As many rows as the longest choice's details, so the box keeps its size as the highlight moves.
  const detailRows = details ? choices.map((c) => layoutLines(details(c.value), width)) : [];
  const detailHeight = Math.max(0, ...detailRows.map((d) => d.length));
  const noteRows = notes !== undefined ? layoutLines(notes, width) : [];
  // The list gives up rows (it scrolls) so that the text around it, shown whole, still fits the body.
  const around =
    (promptRows.length > 0 ? promptRows.length + 1 : 0) + titleRows.length + (detailHeight > 0 ? detailHeight + 1 : 0) + (noteRows.length > 0 ? noteRows.length + 1 : 0);
  const listRows = Math.max(1, Math.min(rows, labels.length, DIALOGUE_CONTENT_ROWS - around));
  const menu = useMenu(labels, listRows);
  const highlighted = () => choices[menu.current().index]?.value;
  useScreenKeys((key) => {
    // A letter the caller claims (a command on the highlighted choice) before the letter jump.
    if (key.name === 'text' && onKey?.(key, highlighted())) return true;
    if (menu.handleKey(key)) return true;
    if (isSelectKey(key)) {
      const choice = choices[menu.current().index];
      if (!choice) return true;
      if (props.onChoose) {
        props.onChoose(choice.value);
        return true;
      }
      const el = props.next(choice.value);
      if (el) screen.replace(el);
      else screen.close();
      return true;
    }
    return key.name !== 'text' && (onKey?.(key, highlighted()) ?? false);
  });
  const shownDetails = detailRows[menu.index] ?? [];
  return (
    <DialogueBox title={title} keys={keys}>
      <Box flexDirection="column">
        {promptRows.map((l, i) => (
          <Line key={`p${i}`} wrap="truncate" alert={promptAlert === true}>
            {l === '' ? ' ' : l}
          </Line>
        ))}
        <Box flexDirection="column" marginTop={promptRows.length > 0 ? 1 : 0}>
          {titleRows.map((l, i) => (
            <Line key={`t${i}`} bold wrap="truncate">
              {l}
            </Line>
          ))}
          <MenuList rows={labels} index={menu.index} offset={menu.offset} height={listRows} width={width} active={choices.length > 0} />
        </Box>
        {detailHeight > 0 && (
          <Box flexDirection="column" marginTop={1} height={detailHeight}>
            {shownDetails.map((row, i) => (
              <Line key={`d${i}`} wrap="truncate" alert={row.alert} bold={row.bold}>
                {row.text === '' ? ' ' : row.text}
              </Line>
            ))}
          </Box>
        )}
        {noteRows.length > 0 && (
          <Box flexDirection="column" marginTop={1}>
            {noteRows.map((row, i) => (
              <Line key={`n${i}`} wrap="truncate" alert={row.alert} bold={row.bold}>
                {row.text === '' ? ' ' : row.text}
              </Line>
            ))}
          </Box>
        )}
      </Box>
    </DialogueBox>
  );
}
