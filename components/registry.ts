/**
 * Menus and the features in them, registered like xsconsole's plug-ins: a feature folder
 * exports a registration function that adds {menu, priority, title, status text, key help,
 * activate} to the registry; the core never names a feature. Adding Restore or Schedule is
 * a new folder plus one line in components/features.ts.
 */
import type { ComponentType } from 'react';
import type { ConsoleServices, ConsoleSession } from './services.js';
import type { Auth } from './auth.js';
import type { Navigator } from './navigation.js';

export const ROOT_MENU = 'MENU_ROOT';
export const BUR_MENU = 'MENU_BUR';

/** What item texts may depend on. */
export interface MenuEnv {
  loggedIn: boolean;
  user: string | null;
  services: ConsoleServices;
}

export interface ActivateContext {
  nav: Navigator;
  services: ConsoleServices;
  auth: Auth;
  /** Leaves the console. */
  exit(): void;
  /** Pushes this menu as a new screen. */
  openMenu(menuId: string): void;
}

type Text = string | ((env: MenuEnv) => string);

interface ItemBase {
  /** Unique key; registering the same key again replaces the item (as xsconsole's named plug-ins). */
  key: string;
  menu: string;
  /** Lower comes first. */
  priority: number;
  title: Text;
  /** Status pane title (default: the title). */
  statusTitle?: Text;
  /** Status pane text for the highlighted item. */
  statusText: Text;
  /** Key help at the bottom of the status pane, e.g. "<Enter> Backup". */
  keyHelp: Text;
  /** Hidden while this returns false. */
  visible?: (env: MenuEnv) => boolean;
}

/** Items that need a logged-in session get it: the core shows the login dialogue first. */
export type MenuItemDefinition =
  | (ItemBase & { requiresLogin: true; activate(ctx: ActivateContext & { session: ConsoleSession }): void })
  | (ItemBase & { requiresLogin?: false; activate(ctx: ActivateContext): void });

export interface MenuDefinition {
  id: string;
  /** Shown in the menu pane's border. */
  title: string;
  /** Drawn under every item's status text, in the rows that text leaves (its first rows first). */
  statusFooter?: ComponentType<{ width: number }>;
}

export type FeatureRegistration = (registry: FeatureRegistry) => void;

export function resolveText(t: Text | undefined, env: MenuEnv): string {
  return t === undefined ? '' : typeof t === 'function' ? t(env) : t;
}

export class FeatureRegistry {
  private readonly menus = new Map<string, MenuDefinition>();
  private readonly items = new Map<string, MenuItemDefinition>();

  addMenu(def: MenuDefinition): this {
    this.menus.set(def.id, def);
    return this;
  }

  addItem(def: MenuItemDefinition): this {
    this.items.set(def.key, def);
    return this;
  }

  menu(id: string): MenuDefinition {
    const m = this.menus.get(id);
    if (!m) throw new Error(`No menu "${id}" is registered.`);
    return m;
  }

  hasMenu(id: string): boolean {
    return this.menus.has(id);
  }

  /** The visible items of a menu, by priority (then registration order). */
  itemsOf(menuId: string, env: MenuEnv): MenuItemDefinition[] {
    return [...this.items.values()]
      .filter((i) => i.menu === menuId && (i.visible?.(env) ?? true))
      .sort((a, b) => a.priority - b.priority);
  }

  static from(registrations: readonly FeatureRegistration[]): FeatureRegistry {
    const r = new FeatureRegistry();
    for (const register of registrations) register(r);
    return r;
  }
}

/** A menu item that opens another menu. */
export function submenuItem(def: Omit<ItemBase, 'keyHelp'> & { keyHelp?: Text; submenu: string }): MenuItemDefinition {
  const { submenu, keyHelp, ...rest } = def;
  return {
    ...rest,
    keyHelp: keyHelp ?? '<Enter> Select',
    activate: (ctx) => ctx.openMenu(submenu),
  };
}
