/** The whole console with its providers: what runConsole renders and what UI tests render. */
import React from 'react';
import { App, type AppProps } from './App.js';
import { ServicesProvider, type ConsoleServices } from './services.js';
import { TerminalSizeProvider, type TerminalSize } from './TerminalSize.js';
import { COLOUR_THEME, ThemeProvider, type Theme } from './theme.js';

export interface ConsoleProps extends AppProps {
  services: ConsoleServices;
  theme?: Theme;
  /** Fixed terminal size (tests); default: the real terminal, following resizes. */
  size?: TerminalSize;
}

export function Console({ services, theme = COLOUR_THEME, size, ...app }: ConsoleProps) {
  return (
    <TerminalSizeProvider {...(size && { size })}>
      <ThemeProvider theme={theme}>
        <ServicesProvider services={services}>
          <App {...app} />
        </ServicesProvider>
      </ThemeProvider>
    </TerminalSizeProvider>
  );
}
