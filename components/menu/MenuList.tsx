/** The rows of a menu: the visible window, the highlighted row as a bar (and ">" in monochrome). */
import React from 'react';
import { Box, Text } from 'ink';
import { useTheme } from '../theme.js';
import { fitText } from '../text.js';
import { consoleRow } from '../../src/text-sinks.js';

export interface MenuListProps {
  rows: readonly string[];
  index: number;
  offset: number;
  /** Visible rows. */
  height: number;
  /** Cells per row (the bar spans it). */
  width: number;
  /** Dims the highlight when the list is not the focus (e.g. while loading). */
  active?: boolean;
}

export function MenuList({ rows, index, offset, height, width, active = true }: MenuListProps) {
  const theme = useTheme();
  const shown = rows.slice(offset, offset + height);
  const more = { above: offset > 0, below: offset + height < rows.length };
  return (
    <Box flexDirection="column">
      {shown.map((row, i) => {
        const at = offset + i;
        const selected = at === index && active;
        const marker = theme.mono ? (selected ? `${theme.marker} ` : '  ') : ' ';
        const arrow = i === 0 && more.above ? theme.glyphs.moreAbove : i === shown.length - 1 && more.below ? theme.glyphs.moreBelow : ' ';
        const text = fitText(`${marker}${consoleRow(row)}`, width - 1) + arrow;
        return (
          <Text
            key={at}
            wrap="truncate"
            color={selected ? theme.highlightText : theme.text}
            {...(selected && theme.highlightBackground ? { backgroundColor: theme.highlightBackground } : {})}
            inverse={selected && theme.mono}
            bold={selected}
          >
            {text}
          </Text>
        );
      })}
    </Box>
  );
}
