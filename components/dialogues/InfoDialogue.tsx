/**
 * A message with an OK: results, failures, notices. Long texts scroll (Up/Down, PgUp/PgDn).
 * Enter, Esc or Left closes it.
 */
import React from 'react';
import { isBackKey, useScreen } from '../navigation.js';
import { TextDialogue } from './TextDialogue.js';

export { DIALOGUE_TEXT_ROWS } from './TextDialogue.js';

export interface InfoDialogueProps {
  title: string;
  text: string;
  /** Failure or warning: drawn in the alert colour. */
  alert?: boolean;
  onClose?: () => void;
}

export function InfoDialogue({ title, text, alert, onClose }: InfoDialogueProps) {
  const screen = useScreen();
  return (
    <TextDialogue
      title={title}
      lines={[text]}
      keys="<Enter> OK"
      {...(alert !== undefined && { alert })}
      onKey={(key) => {
        if (key.name === 'enter' || isBackKey(key)) {
          screen.close();
          onClose?.();
          return true;
        }
        return false;
      }}
    />
  );
}
