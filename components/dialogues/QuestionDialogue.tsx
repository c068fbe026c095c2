/**
 * A yes/no question, as xsconsole asks it: <F8> (or y) answers yes, <Esc> (or n, Left)
 * answers no. F8 rather than Enter, so a key typed ahead cannot confirm something risky.
 * The dialogue closes itself, then `onAnswer` runs (it may push the next screen).
 */
import React from 'react';
import { Box } from 'ink';
import { DialogueBox, DIALOGUE_WIDTH, Line } from '../Frame.js';
import { isBackKey, useScreen, useScreenKeys } from '../navigation.js';
import { wrapText } from '../text.js';

export interface QuestionDialogueProps {
  title?: string;
  text: string;
  onAnswer: (yes: boolean) => void;
}

export function QuestionDialogue({ title = '', text, onAnswer }: QuestionDialogueProps) {
  const screen = useScreen();
  useScreenKeys((key) => {
    const yes = key.name === 'f8' || (key.name === 'text' && (key.text === 'y' || key.text === 'Y'));
    const no = isBackKey(key) || (key.name === 'text' && (key.text === 'n' || key.text === 'N'));
    if (!yes && !no) return true; // nothing else answers a question
    screen.close();
    onAnswer(yes);
    return true;
  });
  return (
    <DialogueBox title={title} keys="<F8> Yes  <Esc> No">
      <Box flexDirection="column" alignItems="center">
        {wrapText(text, DIALOGUE_WIDTH - 6).map((l, i) => (
          <Line key={i} bold>
            {l === '' ? ' ' : l}
          </Line>
        ))}
      </Box>
    </DialogueBox>
  );
}
