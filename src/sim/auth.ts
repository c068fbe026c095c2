/**
 * Root password and sessions (xen-api ocaml/xapi/xapi_session.ml). Only a salted scrypt
 * hash of the root password is stored (db meta "root-password"); the password itself is
 * never logged, kept, or put into an error. Login order as XAPI: a supporter answers
 * HOST_IS_SLAVE before looking at the password; a bad password is answered
 * SESSION_AUTHENTICATION_FAILED [uname, msg] after `authDelayMs` (XAPI waits about 5 s).
 *
 * The local UNIX socket (xen-api ocaml/xapi/context.ml `preauth`): a call that came in over it
 * is trusted as root, so its logins check neither the password nor the pool role. Local
 * sessions (slave_local_login_with_password; xen-api ocaml/xapi/xapi_local_session.ml) live in
 * memory, not in the database: they pass the session check but no record names them, and a
 * restart forgets them.
 */
import { randomBytes, randomUUID, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { ApiFailure } from './api-error.js';
import type { Ref, SimDb } from './db.js';
import { nowStamp } from './tasks.js';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, keylen: number, opts: { N: number; r: number; p: number }) => Promise<Buffer>;

const META_KEY = 'root-password';
/** Moderate cost: this is a simulator, but the hash must not be trivially reversible. */
const SCRYPT = { N: 4096, r: 8, p: 1 } as const;
const KEYLEN = 32;

export const ROOT_USER = 'root';

async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEYLEN, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

async function verifyHash(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, saltB64, keyB64] = parts as [string, string, string, string, string, string];
  const want = Buffer.from(keyB64, 'base64');
  const got = await scrypt(password, Buffer.from(saltB64, 'base64'), want.length, { N: Number(n), r: Number(r), p: Number(p) });
  return got.length === want.length && timingSafeEqual(got, want);
}

export interface AuthOptions {
  /** Delay before answering a bad password (default 0). */
  authDelayMs?: number;
  /** When set, this host is a pool supporter: logins fail with HOST_IS_SLAVE [this address]. */
  supporterOf?: string;
}

export class SimAuth {
  /** Local sessions (ref → user name), outside the database as XAPI keeps them. */
  private readonly local = new Map<Ref, string>();

  constructor(
    private readonly db: SimDb,
    private readonly opts: AuthOptions = {},
  ) {}

  /** Stores the salted hash of a new root password (only ever called for a new state). */
  async setRootPassword(password: string): Promise<void> {
    this.db.setMeta(META_KEY, await hashPassword(password));
  }

  /** True when (uname, password) are the root credentials. */
  async checkPassword(uname: string, password: string): Promise<boolean> {
    const stored = this.db.getMeta(META_KEY);
    if (stored === undefined) return false;
    const ok = await verifyHash(password, stored);
    return ok && uname === ROOT_USER;
  }

  /**
   * session.login_with_password semantics; returns the new session ref. `localRoot`: the call
   * came over the local UNIX socket, where XAPI logs in any user name without a password or a
   * HOST_IS_SLAVE (xapi_session.ml, the `root` preauth case comes first).
   */
  async login(uname: string, password: string, originator: string, thisHost: Ref, localRoot = false): Promise<Ref> {
    if (localRoot) return this.createSession(uname, originator, thisHost);
    if (this.opts.supporterOf !== undefined) throw new ApiFailure('HOST_IS_SLAVE', [this.opts.supporterOf]);
    if (!(await this.checkPassword(uname, password))) {
      const delay = this.opts.authDelayMs ?? 0;
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      throw new ApiFailure('SESSION_AUTHENTICATION_FAILED', [uname, 'Authentication failure']);
    }
    return this.createSession(uname, originator, thisHost);
  }

  /** A session without a password check (HTTP Basic after checkPassword, internal use). */
  createSession(uname: string, originator: string, thisHost: Ref): Ref {
    return this.db.create('session', {
      this_host: thisHost,
      this_user: 'OpaqueRef:NULL',
      last_active: nowStamp(),
      validation_time: nowStamp(),
      is_local_superuser: true,
      auth_user_name: uname,
      originator,
    });
  }

  /**
   * session.slave_local_login_with_password (xapi_session.ml): over the socket no check, else
   * the local superuser's password (PAM there; only root here), failing
   * SESSION_AUTHENTICATION_FAILED [uname, msg] at once (no 5 s wait: that sleep is
   * login_with_password's). No pool-role check: it is meant for a supporter whose master is away.
   */
  async localLogin(uname: string, password: string, localRoot: boolean): Promise<Ref> {
    if (!localRoot && !(await this.checkPassword(uname, password))) {
      throw new ApiFailure('SESSION_AUTHENTICATION_FAILED', [uname, 'Authentication failure']);
    }
    const ref = `OpaqueRef:${randomUUID()}`;
    this.local.set(ref, uname);
    return ref;
  }

  /**
   * session.local_logout: forgets a local session; for a database session it does nothing and
   * the session stays valid (xapi_local_session.ml removes from its own table only).
   */
  localLogout(ref: Ref): void {
    this.local.delete(ref);
  }

  /** True when ref is a live session, in the database or local. */
  isValid(ref: string): boolean {
    return this.local.has(ref) || this.db.exists('session', ref);
  }

  /** SESSION_INVALID [ref] unless ref is a live session (XAPI's session check lets local ones by first). */
  validate(ref: unknown): Ref {
    if (typeof ref !== 'string' || !this.isValid(ref)) {
      throw new ApiFailure('SESSION_INVALID', [typeof ref === 'string' ? ref : '']);
    }
    return ref;
  }

  /** User name of a live session. */
  userOf(ref: Ref): string {
    return this.local.get(ref) ?? this.db.get('session', ref).auth_user_name;
  }

  /**
   * session.logout: destroys the database session. A local session is left as it is: XAPI's
   * destroy_db_session ignores the missing row (xapi_session.ml), so the call succeeds.
   */
  logout(ref: Ref): void {
    this.validate(ref);
    if (this.db.exists('session', ref)) this.db.destroy('session', ref);
  }
}
