/**
 * xsconsole's 80×24 layout: a status line on top; below it either the two panes of a
 * menu (menu on the left, status of the highlighted item on the right) or one dialogue
 * box. Every pane has its title in the top border and its key help at the bottom.
 * Centred in larger terminals; a clear message when the terminal is too small.
 */
import React from 'react';
import { Box, Text } from 'ink';
import { useTerminalSize } from './TerminalSize.js';
import { UNICODE_GLYPHS, useTheme, type Glyphs } from './theme.js';
import { cutText, padText, textWidth } from './text.js';
import { consoleRow } from '../src/text-sinks.js';

export const FRAME_WIDTH = 80;
export const FRAME_HEIGHT = 24;
/** Rows below the status line. */
export const BODY_HEIGHT = FRAME_HEIGHT - 1;
export const MENU_PANE_WIDTH = 40;
export const STATUS_PANE_WIDTH = FRAME_WIDTH - MENU_PANE_WIDTH;
/** Rows of content inside a full-height pane: borders and the key help line excluded. */
export const PANE_CONTENT_ROWS = BODY_HEIGHT - 3;

export function tooSmallMessage(columns: number, rows: number): string {
  return (
    `The terminal is ${columns}x${rows} characters; the console needs at least ${FRAME_WIDTH}x${FRAME_HEIGHT}. ` +
    'Enlarge the window (Ctrl-C quits).'
  );
}

/** Cells the status line leaves its right part beside a centre of this text. */
export function statusRightWidth(centre: string, width = FRAME_WIDTH): number {
  const c = textWidth(cutText(centre, width));
  return Math.max(0, width - Math.floor((width - c) / 2) - c - 1);
}

/** The status line's three parts spread over the frame width in cells (clipped, never wrapped). */
export function statusLineText(left: string, centre: string, right: string, width = FRAME_WIDTH): string {
  const c = cutText(centre, width);
  const cWidth = textWidth(c);
  const cStart = Math.floor((width - cWidth) / 2);
  const l = cutText(left, Math.max(0, cStart - 1));
  const r = cutText(right, statusRightWidth(centre, width));
  return padText(l, cStart) + c + ' '.repeat(width - cStart - cWidth - textWidth(r)) + r;
}

export interface FrameProps {
  statusLeft: string;
  statusCentre: string;
  statusRight: string;
  children: React.ReactNode;
}

export function Frame({ statusLeft, statusCentre, statusRight, children }: FrameProps) {
  const { columns, rows } = useTerminalSize();
  const theme = useTheme();
  const tooSmall = columns < FRAME_WIDTH || rows < FRAME_HEIGHT;
  const left = Math.max(0, Math.floor((columns - FRAME_WIDTH) / 2));
  const top = Math.max(0, Math.floor((rows - FRAME_HEIGHT) / 2));
  // One tree shape whatever the size: the screens stay mounted (hidden while the terminal
  // is too small), so running work and menu positions survive a resize.
  return (
    <Box flexDirection="column">
      {tooSmall && (
        <Box width={Math.max(20, columns)}>
          <Text>{tooSmallMessage(columns, rows)}</Text>
        </Box>
      )}
      <Box
        display={tooSmall ? 'none' : 'flex'}
        flexDirection="column"
        marginLeft={left}
        marginTop={top}
        width={FRAME_WIDTH}
        height={FRAME_HEIGHT}
      >
        <Text color={theme.statusLineText} backgroundColor={theme.statusLineBackground} inverse={theme.mono} wrap="truncate">
          {statusLineText(consoleRow(statusLeft), consoleRow(statusCentre), consoleRow(statusRight))}
        </Text>
        <Box width={FRAME_WIDTH} height={BODY_HEIGHT} overflow="hidden" {...(theme.background ? { backgroundColor: theme.background } : {})}>
          {children}
        </Box>
      </Box>
    </Box>
  );
}

/** "┌─ Title ─────┐" exactly `width` cells wide (in the glyphs given). */
export function titledTopBorder(title: string, width: number, g: Glyphs = UNICODE_GLYPHS): string {
  const inner = width - 2;
  const label = title ? ` ${cutText(title, Math.max(0, inner - 4))} ` : '';
  const rest = Math.max(0, inner - 1 - textWidth(label));
  return `${g.topLeft}${label ? `${g.top}${label}` : g.top}${g.top.repeat(label ? rest : inner - 1)}${g.topRight}`;
}

/** "└──────┘" `width` cells wide. */
export function bottomBorder(width: number, g: Glyphs = UNICODE_GLYPHS): string {
  return `${g.bottomLeft}${g.bottom.repeat(Math.max(0, width - 2))}${g.bottomRight}`;
}

export interface PaneProps {
  title: string;
  keys: string;
  width: number;
  /** Total rows, borders included; omitted: as tall as the content. */
  height?: number;
  children: React.ReactNode;
}

/**
 * A bordered pane: title in the top border, content, key help on the last inner line.
 * The border is drawn as text, not with Ink's borderStyle, because Ink paints border
 * cells without the background colour and the blue frame would show black seams. The
 * side bars are absolutely placed columns taller than any pane, clipped by the row, so
 * they always match the content's height without measuring it.
 */
export function Pane({ title, keys, width, height, children }: PaneProps) {
  const theme = useTheme();
  const inner = height !== undefined ? { height: height - 2 } : {};
  const g = theme.glyphs;
  const side = (left: number, glyph: string) => (
    <Box position="absolute" marginLeft={left} width={1}>
      <Text color={theme.border} bold={theme.mono}>
        {Array.from({ length: FRAME_HEIGHT }, () => glyph).join('\n')}
      </Text>
    </Box>
  );
  return (
    <Box flexDirection="column" width={width} {...(height !== undefined ? { height } : {})}>
      <Text color={theme.border} bold={theme.mono}>
        {titledTopBorder(consoleRow(title), width, g)}
      </Text>
      <Box width={width} overflow="hidden" {...inner}>
        {side(0, g.left)}
        <Box flexDirection="column" width={width - 2} marginLeft={1} paddingX={1} {...inner}>
          <Box flexDirection="column" flexGrow={1} overflow="hidden" {...(height === undefined ? { marginBottom: 1 } : {})}>
            {children}
          </Box>
          <Text color={theme.keyHelp} wrap="truncate">
            {consoleRow(keys)}
          </Text>
        </Box>
        {side(width - 1, g.right)}
      </Box>
      <Text color={theme.border} bold={theme.mono}>
        {bottomBorder(width, g)}
      </Text>
    </Box>
  );
}

export interface TwoPaneProps {
  leftTitle: string;
  left: React.ReactNode;
  leftKeys: string;
  rightTitle: string;
  right: React.ReactNode;
  rightKeys: string;
}

/** The menu layout: menu pane on the left, status pane on the right. */
export function TwoPane(props: TwoPaneProps) {
  return (
    <Box width={FRAME_WIDTH} height={BODY_HEIGHT}>
      <Pane title={props.leftTitle} keys={props.leftKeys} width={MENU_PANE_WIDTH} height={BODY_HEIGHT}>
        {props.left}
      </Pane>
      <Pane title={props.rightTitle} keys={props.rightKeys} width={STATUS_PANE_WIDTH} height={BODY_HEIGHT}>
        {props.right}
      </Pane>
    </Box>
  );
}

export const DIALOGUE_WIDTH = 72;

/** A dialogue: one pane centred in the body, as tall as its content (at most the body). */
export function DialogueBox({ title, keys, children, width = DIALOGUE_WIDTH, height }: Omit<PaneProps, 'width'> & { width?: number }) {
  return (
    <Box width={FRAME_WIDTH} height={BODY_HEIGHT} justifyContent="center" alignItems="center">
      <Pane title={title} keys={keys} width={width} {...(height !== undefined ? { height: Math.min(height, BODY_HEIGHT) } : {})}>
        {children}
      </Pane>
    </Box>
  );
}

/**
 * The strings among a Text's children through the console's row guard: whatever a name
 * holds, it cannot move the cursor, recolour the frame or start a row of its own.
 */
export function guardedChildren(children: React.ReactNode): React.ReactNode {
  if (typeof children === 'string') return consoleRow(children);
  if (!Array.isArray(children)) return children;
  return React.Children.map(children, (child) => (typeof child === 'string' ? consoleRow(child) : child));
}

/** Text in the theme's colour; `alert` for errors and warnings (bold in monochrome). */
export function Line({ children, alert, bold, wrap }: { children: React.ReactNode; alert?: boolean; bold?: boolean; wrap?: 'wrap' | 'truncate' }) {
  const theme = useTheme();
  return (
    <Text color={alert ? theme.alert : theme.text} bold={bold === true || (alert === true && theme.mono)} wrap={wrap ?? 'wrap'}>
      {guardedChildren(children)}
    </Text>
  );
}
