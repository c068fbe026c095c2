/**
 * The frame's size comes from this context, not from Ink's stdout, so tests can set it
 * (ink-testing-library renders 100 columns wide whatever the frame wants).
 */
import React, { createContext, useContext, useEffect, useState } from 'react';
import { useStdout } from 'ink';

export interface TerminalSize {
  columns: number;
  rows: number;
}

const SizeContext = createContext<TerminalSize | null>(null);

export function TerminalSizeProvider({ size, children }: { size?: TerminalSize; children: React.ReactNode }) {
  const { stdout } = useStdout();
  const read = (): TerminalSize => ({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
  const [live, setLive] = useState<TerminalSize>(read);
  useEffect(() => {
    if (size) return undefined;
    const onResize = () => setLive(read());
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [size, stdout]);
  return <SizeContext.Provider value={size ?? live}>{children}</SizeContext.Provider>;
}

export function useTerminalSize(): TerminalSize {
  return useContext(SizeContext) ?? { columns: 80, rows: 24 };
}
