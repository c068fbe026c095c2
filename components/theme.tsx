/**
 * Colours and line glyphs. xsconsole draws white on dark blue with cyan borders and an
 * inverted bar for the highlighted item. The monochrome palette (NO_COLOR, TERM=dumb) uses
 * no colour at all: the highlight is inverse video plus a ">" marker, so it is visible even
 * where the terminal shows no attributes. Box drawing and the scroll arrows are Unicode when
 * the locale's character set is UTF-8, else ASCII (a terminal in the C locale shows a
 * UTF-8 "─" as three bytes of rubbish and misaligns every border after it).
 */
import React, { createContext, useContext } from 'react';

/**
 * The characters the console draws lines and marks with. The box part has the shape of
 * Ink's custom `borderStyle` (cli-boxes' BoxStyle), so it could be given to a Box as is.
 */
export interface Glyphs {
  topLeft: string;
  top: string;
  topRight: string;
  right: string;
  bottomRight: string;
  bottom: string;
  bottomLeft: string;
  left: string;
  /** Marks a list with rows above / below the visible ones. */
  moreAbove: string;
  moreBelow: string;
}

export const UNICODE_GLYPHS: Glyphs = {
  topLeft: '┌',
  top: '─',
  topRight: '┐',
  right: '│',
  bottomRight: '┘',
  bottom: '─',
  bottomLeft: '└',
  left: '│',
  moreAbove: '↑',
  moreBelow: '↓',
};

export const ASCII_GLYPHS: Glyphs = {
  topLeft: '+',
  top: '-',
  topRight: '+',
  right: '|',
  bottomRight: '+',
  bottom: '-',
  bottomLeft: '+',
  left: '|',
  moreAbove: '^',
  moreBelow: 'v',
};

/**
 * The locale the C library uses for the character set: the first of LC_ALL, LC_CTYPE and
 * LANG that is set and not empty (POSIX's precedence; an empty value counts as unset).
 */
export function ctypeLocale(env: NodeJS.ProcessEnv): string {
  for (const name of ['LC_ALL', 'LC_CTYPE', 'LANG']) {
    const value = env[name];
    if (value !== undefined && value !== '') return value;
  }
  return '';
}

/**
 * Whether that locale's character set is UTF-8: its codeset (after the ".", before any
 * "@modifier") is UTF-8 however spelt ("en_US.UTF-8", "C.utf8"). "C", "POSIX", unset, or a
 * locale without a codeset ("en_US", Latin-1 in glibc) are not.
 */
export function localeIsUtf8(env: NodeJS.ProcessEnv): boolean {
  const m = /^[^.@]*\.([^@]*)/.exec(ctypeLocale(env));
  return m !== null && /^utf-?8$/i.test(m[1]!);
}

export interface Theme {
  mono: boolean;
  /** Background of the whole frame (undefined: the terminal's own). */
  background: string | undefined;
  text: string | undefined;
  border: string | undefined;
  title: string | undefined;
  keyHelp: string | undefined;
  /** Highlighted menu row. */
  highlightText: string | undefined;
  highlightBackground: string | undefined;
  /** Errors and warnings: must stay readable on the frame background. */
  alert: string | undefined;
  statusLineText: string | undefined;
  statusLineBackground: string | undefined;
  /** Prefix of the highlighted row ('' in colour, '>' in monochrome). */
  marker: string;
  glyphs: Glyphs;
}

export const COLOUR_THEME: Theme = {
  mono: false,
  background: 'blue',
  text: 'whiteBright',
  border: 'cyan',
  title: 'whiteBright',
  keyHelp: 'cyanBright',
  highlightText: 'blue',
  highlightBackground: 'whiteBright',
  alert: 'yellowBright',
  statusLineText: 'black',
  statusLineBackground: 'cyan',
  marker: '',
  glyphs: UNICODE_GLYPHS,
};

export const MONO_THEME: Theme = {
  mono: true,
  background: undefined,
  text: undefined,
  border: undefined,
  title: undefined,
  keyHelp: undefined,
  highlightText: undefined,
  highlightBackground: undefined,
  alert: undefined,
  statusLineText: undefined,
  statusLineBackground: undefined,
  marker: '>',
  glyphs: UNICODE_GLYPHS,
};

/**
 * Decided once at start-up. https://no-color.org: any non-empty NO_COLOR turns colour
 * off; so does TERM=dumb. The glyphs follow the locale (localeIsUtf8).
 */
export function themeFromEnv(env: NodeJS.ProcessEnv): Theme {
  const palette = (env['NO_COLOR'] ?? '') !== '' || env['TERM'] === 'dumb' ? MONO_THEME : COLOUR_THEME;
  return { ...palette, glyphs: localeIsUtf8(env) ? UNICODE_GLYPHS : ASCII_GLYPHS };
}

const ThemeContext = createContext<Theme>(COLOUR_THEME);

export function ThemeProvider({ theme, children }: { theme: Theme; children: React.ReactNode }) {
  return <ThemeContext.Provider value={theme}>{children}</ThemeContext.Provider>;
}

export function useTheme(): Theme {
  return useContext(ThemeContext);
}
