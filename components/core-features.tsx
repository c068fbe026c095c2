/**
 * The console's own menus and items (xsconsole's XSMenuLayout, Log In/Out and Quit):
 * the root menu, the "Backup, Restore and Update" menu that DR features register into,
 * and the session and exit items.
 */
import React from 'react';
import { BUR_MENU, ROOT_MENU, submenuItem, type FeatureRegistry, type MenuEnv } from './registry.js';
import { LoginDialogue } from './dialogues/LoginDialogue.js';
import { BackupStatusFooter } from './status/BackupStatus.js';
import { neutralise } from '../src/safe-text.js';

export const ROOT_MENU_TITLE = 'Customize System';
export const BUR_MENU_TITLE = 'Backup, Restore and Update';

function connectionText(env: MenuEnv): string {
  const s = env.services;
  return [`Pool: ${s.targetDescription}`, s.securityWarning ?? '', env.loggedIn ? '' : (s.loginHint ?? '')].filter(Boolean).join('\n\n');
}

export function registerCore(registry: FeatureRegistry): void {
  // Both panes show the last backup and the last scheduled result, so a failed scheduled run
  // is seen at the first screen, not only inside Schedule.
  registry.addMenu({ id: ROOT_MENU, title: ROOT_MENU_TITLE, statusFooter: BackupStatusFooter });
  registry.addMenu({ id: BUR_MENU, title: BUR_MENU_TITLE, statusFooter: BackupStatusFooter });

  registry.addItem(
    submenuItem({
      key: 'MENU_BUR',
      menu: ROOT_MENU,
      priority: 800,
      title: BUR_MENU_TITLE,
      statusText:
        'Back up the metadata of the VMs in this pool to a Storage Repository, and restore VMs ' +
        'from such a backup, for example after moving the SR to a disaster recovery pool.',
      submenu: BUR_MENU,
    }),
  );

  registry.addItem({
    key: 'LOGINOUT',
    menu: ROOT_MENU,
    priority: 900,
    title: (env) => (env.loggedIn ? 'Log Out' : 'Log In'),
    statusText: (env) =>
      `${env.loggedIn ? `Logged in as ${neutralise(env.user ?? '')}. Press <Enter> to log out.` : 'Press <Enter> to log in.'}\n\n${connectionText(env)}`,
    keyHelp: (env) => (env.loggedIn ? '<Enter> Log out' : '<Enter> Log in'),
    activate: ({ auth, nav }) => {
      if (auth.session) void auth.logout('user');
      else nav.push(<LoginDialogue />);
    },
  });

  registry.addItem({
    key: 'QUIT',
    menu: ROOT_MENU,
    priority: 1000,
    title: 'Quit',
    statusText: 'Press <Enter> to leave the console. An open session is logged out first.',
    keyHelp: '<Enter> Quit',
    activate: ({ exit }) => exit(),
  });
}
