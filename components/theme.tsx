/**
 * Colours. xsconsole draws white on dark blue with cyan borders and an inverted bar for
 * the highlighted item. The monochrome palette (NO_COLOR, TERM=dumb) uses no colour at
 * all: the highlight is inverse video plus a ">" marker, so it is visible even where the
 * terminal shows no attributes.
 */
import React, { createContext, useContext } from 'react';

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
};

/** https://no-color.org: any non-empty NO_COLOR turns colour off; so does TERM=dumb. */
export function themeFromEnv(env: NodeJS.ProcessEnv): Theme {
  if ((env['NO_COLOR'] ?? '') !== '' || env['TERM'] === 'dumb') return MONO_THEME;
  return COLOUR_THEME;
}

const ThemeContext = createContext<Theme>(COLOUR_THEME);

export function ThemeProvider({ theme, children }: { theme: Theme; children: React.ReactNode }) {
  return <ThemeContext.Provider value={theme}>{children}</ThemeContext.Provider>;
}

export function useTheme(): Theme {
  return useContext(ThemeContext);
}
