/**
 * "Save to file": a path field (prefilled with a default in the console's save folder),
 * Enter saves, Esc or Left cancels. An existing file is never replaced without asking
 * (the write itself is exclusive, so a file appearing meanwhile is safe too). Typing edits
 * at the end (as xsconsole's fields); Backspace deletes, Ctrl-U clears the field.
 */
import React, { useReducer, useRef, useState } from 'react';
import { Box, Text } from 'ink';
import { DialogueBox, DIALOGUE_WIDTH, Line } from '../Frame.js';
import { isBackKey, useNavigator, useScreen, useScreenKeys } from '../navigation.js';
import { failureLines, useServices } from '../services.js';
import { useTheme } from '../theme.js';
import { dropLastGrapheme, wrapText } from '../text.js';
import { FileExistsError } from '../../src/app/index.js';
import { InfoDialogue } from './InfoDialogue.js';
import { QuestionDialogue } from './QuestionDialogue.js';
import { neutralise } from '../../src/safe-text.js';

const MAX_PATH = 4096;
export const SAVE_KEYS = '<Enter> Save  <Esc> Cancel  <Ctrl-U> Clear';

export interface SaveTextDialogueProps {
  title: string;
  /** What is saved, for the texts ("summary"). */
  what: string;
  text: string;
  /** File name or path; relative to the console's save folder. */
  defaultPath: string;
}

export function SaveTextDialogue({ title, what, text, defaultPath }: SaveTextDialogueProps) {
  const services = useServices();
  const screen = useScreen();
  const nav = useNavigator();
  const theme = useTheme();
  const initial = defaultPath.startsWith('/') ? defaultPath : `${services.saveDir.replace(/\/$/, '')}/${defaultPath}`;
  // A ref, drawn through a counter: keys arriving in one read each see the previous one's edit.
  const field = useRef(initial);
  const busy = useRef(false);
  const [, redraw] = useReducer((n: number) => n + 1, 0);
  const [message, setMessage] = useState<{ text: string; alert: boolean } | null>(null);

  const write = (path: string, overwrite: boolean) => {
    busy.current = true;
    setMessage({ text: 'Saving...', alert: false });
    services.saveText(path, text, { overwrite }).then(
      (written) => {
        busy.current = false;
        screen.replace(<InfoDialogue title={title} text={`The ${what} was saved to ${neutralise(written)}`} />);
      },
      (err: unknown) => {
        busy.current = false;
        if (err instanceof FileExistsError) {
          setMessage(null);
          nav.push(
            <QuestionDialogue
              title={title}
              text={`${neutralise(err.path)} already exists. Do you want to replace it?`}
              onAnswer={(yes) => {
                if (yes) write(path, true);
                else setMessage({ text: 'Not replaced. Choose another name, or press <Esc>.', alert: false });
              }}
            />,
          );
          return;
        }
        const f = services.explain(err);
        setMessage({ text: `Could not save: ${failureLines(f).join(' ')}`, alert: true });
      },
    );
  };

  useScreenKeys((key) => {
    if (busy.current) return true;
    if (isBackKey(key)) {
      screen.close();
      return true;
    }
    const set = (v: string) => {
      field.current = v.slice(0, MAX_PATH);
      setMessage(null);
      redraw();
    };
    switch (key.name) {
      case 'text':
        if (!key.alt && key.text) set(field.current + key.text.replace(/[\r\n\t]/g, ''));
        return true;
      case 'backspace':
        set(dropLastGrapheme(field.current));
        return true;
      case 'ctrl':
        if (key.letter === 'u') set('');
        return true;
      case 'enter': {
        const path = field.current.trim();
        if (path === '') setMessage({ text: 'Enter a file name.', alert: true });
        else write(path, false);
        return true;
      }
      default:
        return true;
    }
  });

  const width = DIALOGUE_WIDTH - 4;
  const shown = wrapText(`${field.current}_`, width);
  return (
    <DialogueBox title={title} keys={SAVE_KEYS}>
      <Box flexDirection="column">
        <Line>{`Save the ${what} to this file:`}</Line>
        <Box flexDirection="column" marginTop={1}>
          {shown.map((l, i) => (
            <Text key={i} color={theme.text} bold>
              {l}
            </Text>
          ))}
        </Box>
        {message && (
          <Box marginTop={1}>
            <Line alert={message.alert}>{message.text}</Line>
          </Box>
        )}
      </Box>
    </DialogueBox>
  );
}
