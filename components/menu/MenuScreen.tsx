/**
 * A menu screen: the registered items of one menu on the left, the highlighted item's
 * status text and key help on the right. Items that need a session go through the login
 * dialogue first.
 */
import React from 'react';
import { Box } from 'ink';
import { Line, MENU_PANE_WIDTH, PANE_CONTENT_ROWS, STATUS_PANE_WIDTH, TwoPane } from '../Frame.js';
import { textWidth, wrapText } from '../text.js';
import { useAuth } from '../auth.js';
import { useShell } from '../console-context.js';
import { isSelectKey, useNavigator, useScreenKeys } from '../navigation.js';
import { ROOT_MENU, resolveText, type ActivateContext, type MenuEnv, type MenuItemDefinition } from '../registry.js';
import { useServices } from '../services.js';
import { useRequireLogin } from '../dialogues/LoginDialogue.js';
import { MenuList } from './MenuList.js';
import { useMenu } from './useMenu.js';

export const MENU_KEYS = '<Up/Dn> Select <Enter> OK';
export const SUBMENU_KEYS = '<Up/Dn> Select <Enter> OK <Esc> Back';

export function MenuScreen({ menuId }: { menuId: string }) {
  const { registry, exit } = useShell();
  const services = useServices();
  const auth = useAuth();
  const nav = useNavigator();
  const requireLogin = useRequireLogin();
  const env: MenuEnv = { loggedIn: auth.session !== null, user: auth.session?.user ?? null, services };
  const items = registry.itemsOf(menuId, env);
  const titles = items.map((i) => resolveText(i.title, env));
  const menu = useMenu(titles, PANE_CONTENT_ROWS);

  const activate = (item: MenuItemDefinition) => {
    const ctx: ActivateContext = {
      nav,
      services,
      auth,
      exit,
      openMenu: (id) => nav.push(<MenuScreen menuId={id} />),
    };
    if (item.requiresLogin) requireLogin((session) => item.activate({ ...ctx, session }));
    else item.activate(ctx);
  };

  useScreenKeys((key) => {
    // Esc at the root menu: back to the first item, a fixed start after many Escapes (stock).
    if (menuId === ROOT_MENU && key.name === 'escape') {
      menu.dispatch({ type: 'home' });
      return true;
    }
    if (menu.handleKey(key)) return true;
    if (isSelectKey(key)) {
      const item = items[menu.current().index];
      if (item) activate(item);
      return true;
    }
    return false;
  });

  const item = items[menu.index];
  const Footer = registry.menu(menuId).statusFooter;
  const statusTitle = item ? resolveText(item.statusTitle ?? item.title, env) : '';
  // xsconsole draws the status title inside the pane; here it is the border's title, and a
  // title too long for the border (e.g. "Schedule Virtual Machine Metadata Backup") moves
  // into the pane as its first line, the menu text taking the border.
  const fits = textWidth(statusTitle) <= STATUS_PANE_WIDTH - 6;
  const statusLines = wrapText(item ? resolveText(item.statusText, env) : '', STATUS_PANE_WIDTH - 4);
  return (
    <TwoPane
      leftTitle={registry.menu(menuId).title}
      left={<MenuList rows={titles} index={menu.index} offset={menu.offset} height={PANE_CONTENT_ROWS} width={MENU_PANE_WIDTH - 4} />}
      leftKeys={menuId === ROOT_MENU ? MENU_KEYS : SUBMENU_KEYS}
      rightTitle={fits || !item ? statusTitle : resolveText(item.title, env)}
      right={
        <Box flexDirection="column" flexGrow={1}>
          <Box flexDirection="column" flexShrink={0}>
            {!fits &&
              wrapText(statusTitle, STATUS_PANE_WIDTH - 4)
                .concat([''])
                .map((l, i) => (
                  <Line key={`t${i}`} bold wrap="truncate">
                    {l === '' ? ' ' : l}
                  </Line>
                ))}
            {statusLines.map((l, i) => (
              <Line key={i} wrap="truncate">
                {l === '' ? ' ' : l}
              </Line>
            ))}
          </Box>
          {Footer && (
            // The item's own text stays whole (e.g. a security warning); the footer takes the rows left.
            <Box flexDirection="column" flexShrink={1} overflow="hidden" marginTop={1}>
              <Footer width={STATUS_PANE_WIDTH - 4} />
            </Box>
          )}
        </Box>
      }
      rightKeys={item ? resolveText(item.keyHelp, env) : ''}
    />
  );
}
