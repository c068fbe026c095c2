/**
 * A list to choose from inside a dialogue (xsconsole's menu dialogues: "Available Metadata
 * Backups", restore methods): Up/Down wrap, first-letter jump, PgUp/PgDn, Enter/Right
 * choose, Esc/Left cancel. Choosing replaces the dialogue with the screen `next` returns,
 * or closes it when `next` returns null.
 */
import React from 'react';
import { Box } from 'ink';
import { DialogueBox, DIALOGUE_WIDTH, Line } from '../Frame.js';
import { MenuList } from '../menu/MenuList.js';
import { useMenu } from '../menu/useMenu.js';
import { isSelectKey, useScreen, useScreenKeys } from '../navigation.js';
import { wrapText } from '../text.js';

export interface Choice<T> {
  label: string;
  value: T;
}

export interface ChoiceDialogueProps<T> {
  title: string;
  /** Text above the list (wrapped). */
  prompt?: string;
  /** Bold line naming the list (xsconsole's menu title). */
  listTitle?: string;
  choices: readonly Choice<T>[];
  /** Shown when `choices` is empty. */
  empty?: string;
  /** Key help (default "<Enter> OK  <Esc> Cancel"). */
  keys?: string;
  rows?: number;
  next: (value: T) => React.ReactElement | null;
}

export function ChoiceDialogue<T>({ title, prompt, listTitle, choices, empty = '<None>', keys = '<Enter> OK  <Esc> Cancel', rows = 10, next }: ChoiceDialogueProps<T>) {
  const screen = useScreen();
  const labels = choices.length > 0 ? choices.map((c) => c.label) : [empty];
  const menu = useMenu(labels, rows);
  useScreenKeys((key) => {
    if (menu.handleKey(key)) return true;
    if (isSelectKey(key)) {
      const choice = choices[menu.current().index];
      if (choice) {
        const el = next(choice.value);
        if (el) screen.replace(el);
        else screen.close();
      }
      return true;
    }
    return false;
  });
  return (
    <DialogueBox title={title} keys={keys}>
      <Box flexDirection="column">
        {prompt !== undefined &&
          wrapText(prompt, DIALOGUE_WIDTH - 4).map((l, i) => (
            <Line key={`p${i}`} wrap="truncate">
              {l === '' ? ' ' : l}
            </Line>
          ))}
        <Box flexDirection="column" marginTop={prompt !== undefined ? 1 : 0}>
          {listTitle !== undefined && <Line bold>{listTitle}</Line>}
          <MenuList rows={labels} index={menu.index} offset={menu.offset} height={rows} width={DIALOGUE_WIDTH - 4} active={choices.length > 0} />
        </Box>
      </Box>
    </DialogueBox>
  );
}
