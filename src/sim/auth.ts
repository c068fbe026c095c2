/**
 * Root password and sessions (xen-api ocaml/xapi/xapi_session.ml). Only a salted scrypt
 * hash of the root password is stored (db meta "root-password"); the password itself is
 * never logged, kept, or put into an error. Login order as XAPI: a supporter answers
 * HOST_IS_SLAVE before looking at the password; a bad password is answered
 * SESSION_AUTHENTICATION_FAILED [uname, msg] after `authDelayMs` (XAPI waits about 5 s).
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
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

  /** session.login_with_password semantics; returns the new session ref. */
  async login(uname: string, password: string, originator: string, thisHost: Ref): Promise<Ref> {
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

  /** SESSION_INVALID [ref] unless ref is a live session. */
  validate(ref: unknown): Ref {
    if (typeof ref !== 'string' || !this.db.exists('session', ref)) {
      throw new ApiFailure('SESSION_INVALID', [typeof ref === 'string' ? ref : '']);
    }
    return ref;
  }

  /** User name of a live session. */
  userOf(ref: Ref): string {
    return this.db.get('session', ref).auth_user_name;
  }

  logout(ref: Ref): void {
    this.validate(ref);
    this.db.destroy('session', ref);
  }
}
