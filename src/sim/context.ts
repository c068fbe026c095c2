/**
 * Everything the API methods and HTTP routes of one simulator instance share.
 */
import { ApiFailure } from './api-error.js';
import type { SimAuth } from './auth.js';
import type { SimClock } from './clock.js';
import type { Ref, SimDb } from './db.js';
import type { SimFaults } from './faults.js';
import type { SimProfile } from './profiles.js';
import type { SimStats } from './stats.js';
import type { TaskManager } from './tasks.js';

export interface SimContext {
  readonly db: SimDb;
  readonly profile: SimProfile;
  /** State folder (db.json, cert, default SR folders). */
  readonly stateDir: string;
  /** Folder of the control domain's device symlinks. */
  readonly deviceDir: string;
  readonly tasks: TaskManager;
  readonly auth: SimAuth;
  readonly faults: SimFaults;
  readonly stats: SimStats;
  /** The master's clock and time zone (host.get_servertime / get_server_localtime). */
  readonly clock: SimClock;
}

/** The pool (there is exactly one). */
export function thePool(db: SimDb): Ref {
  const ref = db.refs('pool')[0];
  if (ref === undefined) throw new ApiFailure('INTERNAL_ERROR', ['the simulator has no pool object']);
  return ref;
}

/** The pool master (coordinator). */
export function masterHost(db: SimDb): Ref {
  return db.get('pool', thePool(db)).master;
}

/** The master's control domain (dom0): is_control_domain, resident on the master, domid 0. */
export function controlDomain(db: SimDb): Ref {
  const master = masterHost(db);
  const ref =
    db.findRef('VM', (vm) => vm.is_control_domain && vm.resident_on === master && vm.domid === 0) ??
    db.findRef('VM', (vm) => vm.is_control_domain && vm.resident_on === master);
  if (ref === undefined) throw new ApiFailure('INTERNAL_ERROR', ['the master has no control domain']);
  return ref;
}

/** True when `vm` is a control domain (dom0 or a driver domain). */
export function isControlDomain(db: SimDb, vm: Ref): boolean {
  return db.tryGet('VM', vm)?.is_control_domain === true;
}
