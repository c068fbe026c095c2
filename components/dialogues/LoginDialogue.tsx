/**
 * The login gate: user name (prefilled) and a masked password; Enter moves on / logs in,
 * Tab and Up/Down switch fields, Backspace edits (no cursor movement, as xsconsole), Esc or
 * Left cancels. A refused login shows XAPI's reason; the password is cleared and only ever
 * lives in this component's state until the login call returns.
 */
import React, { useEffect, useReducer, useRef, useState } from 'react';
import { Box, Text } from 'ink';
import { DialogueBox, DIALOGUE_WIDTH, Line } from '../Frame.js';
import { useAuth } from '../auth.js';
import { isBackKey, useNavigator, useScreen, useScreenKeys } from '../navigation.js';
import { failureLines, useServices, type ConsoleSession, type FailureText } from '../services.js';
import { useTheme } from '../theme.js';
import { useWork, type Job } from '../work.js';
import { dropLastGrapheme, wrapText } from '../text.js';
import { consoleRow } from '../../src/text-sinks.js';

export const LOGIN_REQUIRED = 'Please log in to perform this function';
const MAX_FIELD = 256;

export interface LoginDialogueProps {
  /** Shown above the fields (e.g. LOGIN_REQUIRED). */
  text?: string;
  onSuccess?: (session: ConsoleSession) => void;
}

type Field = 'user' | 'password';

export function LoginDialogue({ text, onSuccess }: LoginDialogueProps) {
  const services = useServices();
  const auth = useAuth();
  const work = useWork();
  const screen = useScreen();
  const theme = useTheme();
  // The form lives in a ref (drawn through a counter) so keys arriving in one read — "\tpw\r"
  // typed ahead or pasted — each see the field the previous key moved to.
  const form = useRef<{ user: string; password: string; field: Field; busy: boolean }>({
    user: services.user,
    password: '',
    field: 'user',
    busy: false,
  });
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const update = (patch: Partial<typeof form.current>) => {
    form.current = { ...form.current, ...patch };
    rerender();
  };
  const [failure, setFailure] = useState<FailureText | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const job = useRef<Job | null>(null);
  const cancelledWithEsc = useRef(false);
  const mounted = useRef(true);

  useEffect(
    () => () => {
      mounted.current = false;
      job.current?.finish();
    },
    [],
  );

  const submit = () => {
    const user = form.current.user.trim();
    if (user === '') {
      setFailure({ kind: 'expected', code: 'USAGE', meaning: 'No user name was entered.', nextStep: 'Enter a user name (root on XenServer).' });
      update({ field: 'user' });
      return;
    }
    const j = work.start('Logging in');
    job.current = j;
    cancelledWithEsc.current = false;
    setFailure(null);
    setNotice(null);
    const password = form.current.password;
    update({ busy: true });
    services.login(user, password, j.signal).then(
      (session) => {
        j.finish();
        if (!mounted.current || j.signal.aborted) {
          void session.logout().catch(() => undefined);
          return;
        }
        form.current.password = '';
        auth.signedIn(session);
        screen.close();
        onSuccess?.(session);
      },
      (err: unknown) => {
        j.finish();
        if (!mounted.current) return;
        update({ busy: false, password: '', field: 'password' });
        // Esc cancels the attempt and stays; Ctrl-C (the shell) goes back to the menu.
        if (j.signal.aborted && !cancelledWithEsc.current) screen.close();
        else if (j.signal.aborted) setNotice('Login cancelled.');
        else setFailure(services.explain(err));
      },
    );
  };

  useScreenKeys((key) => {
    const f = form.current;
    if (f.busy) {
      // Esc while XAPI thinks: cancel the attempt, stay in the dialogue.
      if (key.name === 'escape' && job.current) {
        cancelledWithEsc.current = true;
        job.current.abort();
      }
      return true;
    }
    if (isBackKey(key)) return false;
    const field = f.field;
    const set = (value: string) => update(field === 'user' ? { user: value.slice(0, MAX_FIELD) } : { password: value.slice(0, MAX_FIELD) });
    const value = field === 'user' ? f.user : f.password;
    switch (key.name) {
      case 'text':
        if (!key.alt) set(value + (key.text ?? ''));
        return true;
      case 'backspace':
        set(dropLastGrapheme(value));
        return true;
      case 'tab':
      case 'down':
      case 'backTab':
      case 'up':
        update({ field: field === 'user' ? 'password' : 'user' });
        return true;
      case 'enter':
        if (field === 'user') update({ field: 'password' });
        else submit();
        return true;
      default:
        return true;
    }
  });

  const { user, password, field, busy } = form.current;
  const width = DIALOGUE_WIDTH - 4;
  const row = (label: string, value: string, focused: boolean) => (
    <Box>
      <Text color={theme.text}>{label.padEnd(14)}</Text>
      <Text color={theme.text} inverse={focused && !busy} bold={focused}>
        {consoleRow(value)}
        {focused && !busy ? '_' : ''}
      </Text>
    </Box>
  );
  return (
    <DialogueBox title="Login" keys={busy ? '<Esc> Stop  <Ctrl-C> Cancel' : '<Esc> Cancel  <Enter> Next/OK  <Tab> Next'}>
      <Box flexDirection="column">
        {text && <Line bold>{text}</Line>}
        {wrapText(`Pool: ${services.targetDescription}`, width).map((l, i) => (
          <Line key={`t${i}`}>{l}</Line>
        ))}
        {services.securityWarning && <Line alert>{services.securityWarning}</Line>}
        {services.loginHint && <Line>{services.loginHint}</Line>}
        <Box flexDirection="column" marginTop={1}>
          {row('Username', user, field === 'user')}
          {row('Password', '*'.repeat(password.length), field === 'password')}
        </Box>
        {busy && (
          <Box marginTop={1}>
            <Line>Logging in...</Line>
          </Box>
        )}
        {notice && (
          <Box marginTop={1}>
            <Line>{notice}</Line>
          </Box>
        )}
        {failure && (
          <Box flexDirection="column" marginTop={1}>
            <Line alert>Login failed: {failureLines(failure)[0]}</Line>
            <Line>{failureLines(failure)[1]}</Line>
          </Box>
        )}
      </Box>
    </DialogueBox>
  );
}

/** Runs `then` with the session, showing the login dialogue first when nobody is logged in. */
export function useRequireLogin(): (then: (session: ConsoleSession) => void) => void {
  const auth = useAuth();
  const nav = useNavigator();
  return (then) => {
    if (auth.session) then(auth.session);
    else nav.push(<LoginDialogue text={LOGIN_REQUIRED} onSuccess={then} />);
  };
}
