/** A "please wait" box while work runs: a centred message, optional detail lines. */
import React from 'react';
import { Box } from 'ink';
import { DialogueBox, DIALOGUE_WIDTH, Line } from '../Frame.js';
import { wrapText } from '../text.js';

export interface BannerProps {
  title?: string;
  text: string;
  detail?: React.ReactNode;
  keys?: string;
}

export function Banner({ title = '', text, detail, keys = '<Ctrl-C> Abort' }: BannerProps) {
  return (
    <DialogueBox title={title} keys={keys}>
      <Box flexDirection="column" alignItems="center">
        {wrapText(text, DIALOGUE_WIDTH - 6).map((l, i) => (
          <Line key={i} bold>
            {l === '' ? ' ' : l}
          </Line>
        ))}
      </Box>
      {detail !== undefined && (
        <Box flexDirection="column" marginTop={1}>
          {detail}
        </Box>
      )}
    </DialogueBox>
  );
}
