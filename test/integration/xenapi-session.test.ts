import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Session, TransportError, XenApiError, fieldEquals } from '../../src/xenapi/index.js';
import { plain, startFake, type FakeXapi } from './xenapi-fixture.js';

const hasIpv6Loopback = await new Promise<boolean>((resolve) => {
  const srv = net.createServer();
  srv.once('error', () => resolve(false));
  srv.listen(0, '::1', () => srv.close(() => resolve(true)));
});

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function fake(opts: Parameters<typeof startFake>[0] = {}): Promise<FakeXapi> {
  const f = await startFake(opts);
  cleanup.push(() => f.close());
  return f;
}

async function login(f: FakeXapi, extra: Partial<Parameters<typeof Session.login>[0]> = {}): Promise<Session> {
  const s = await Session.login({ url: f.url, user: 'root', password: 'secret-pw', ...extra });
  cleanup.push(() => s.logout().catch(() => undefined));
  return s;
}

describe('login', () => {
  it('sends (uname, pwd, "1.0", originator) and keeps the ref', async () => {
    const f = await fake();
    const s = await login(f);
    const call = f.callsOf('session.login_with_password')[0]!;
    expect(call.params.map(plain)).toEqual(['root', 'secret-pw', '1.0', 'xsconsole-dr']);
    expect(s.ref).toMatch(/^OpaqueRef:s/);
    expect(f.sessions.has(s.ref)).toBe(true);
    expect(s.url).toBe(f.url);
    expect(s.tlsWarning).toBeUndefined();
  });

  it('a wrong password → SESSION_AUTHENTICATION_FAILED, and the password is nowhere in the error', async () => {
    const f = await fake();
    const err = await Session.login({ url: f.url, user: 'root', password: 'wrong-Passw0rd!' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XenApiError);
    expect((err as XenApiError).code).toBe('SESSION_AUTHENTICATION_FAILED');
    const shown = `${String(err)} ${JSON.stringify(err)} ${(err as Error).stack}`;
    expect(shown).not.toContain('wrong-Passw0rd!');
  });

  it('scrubs a password the server echoes back', async () => {
    const f = await fake();
    f.methods.set('session.login_with_password', ([u, p]) => ({ fault: ['SESSION_AUTHENTICATION_FAILED', String(u), `bad password ${String(p)}`] }));
    const err = (await Session.login({ url: f.url, user: 'root', password: 'hunter2-long' }).catch((e: unknown) => e)) as XenApiError;
    expect(err.code).toBe('SESSION_AUTHENTICATION_FAILED');
    expect(err.params.join(' ')).not.toContain('hunter2-long');
    expect(err.message).not.toContain('hunter2-long');
  });

  it('HOST_IS_SLAVE → logs in on the coordinator the member names (same scheme and port)', async () => {
    // Two hosts on the same port, as in a real pool: 127.0.0.1 is a member, 127.0.0.2 the
    // coordinator (all of 127/8 is loopback on Linux).
    const member = await fake();
    const master = await fake({ host: '127.0.0.2', port: member.port });
    member.methods.set('session.login_with_password', () => ({ fault: ['HOST_IS_SLAVE', '127.0.0.2'] }));
    master.methods.set('pool.get_all', () => ({ value: ['OpaqueRef:pool'] }));
    const s = await login(member);
    expect(s.url).toBe(`http://127.0.0.2:${member.port}/`);
    expect(master.sessions.has(s.ref)).toBe(true);
    expect(member.callsOf('session.login_with_password')).toHaveLength(1);
    expect(master.callsOf('session.login_with_password')[0]!.params.map(plain)).toEqual(['root', 'secret-pw', '1.0', 'xsconsole-dr']);
    // Later calls go to the coordinator only.
    expect(await s.call('pool.get_all')).toEqual(['OpaqueRef:pool']);
    expect(member.calls).toHaveLength(1);
  });

  it.skipIf(!hasIpv6Loopback)('HOST_IS_SLAVE naming an IPv6 coordinator is bracketed in the URL', async () => {
    const member = await fake();
    const master = await fake({ host: '::1', port: member.port });
    member.methods.set('session.login_with_password', () => ({ fault: ['HOST_IS_SLAVE', '::1'] }));
    const s = await login(member);
    expect(s.url).toBe(`http://[::1]:${member.port}/`);
    expect(master.sessions.has(s.ref)).toBe(true);
  });

  it('gives up after a few HOST_IS_SLAVE hops', async () => {
    const f = await fake();
    f.methods.set('session.login_with_password', () => ({ fault: ['HOST_IS_SLAVE', '127.0.0.1'] }));
    const err = await Session.login({ url: f.url, user: 'root', password: 'secret-pw', maxRedirects: 2 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'HOST_IS_SLAVE' });
    expect(f.callsOf('session.login_with_password')).toHaveLength(3);
  });
});

describe('SESSION_INVALID', () => {
  it('re-logs in exactly once and retries the call', async () => {
    const f = await fake();
    f.methods.set('pool.get_all', () => ({ value: ['OpaqueRef:pool'] }));
    const s = await login(f);
    const first = s.ref;
    f.sessions.delete(first); // XAPI restarted / session expired
    expect(await s.call('pool.get_all')).toEqual(['OpaqueRef:pool']);
    expect(s.ref).not.toBe(first);
    expect(f.callsOf('session.login_with_password')).toHaveLength(2);
    const poolCalls = f.callsOf('pool.get_all').map((c) => plain(c.params[0]!));
    expect(poolCalls).toEqual([first, s.ref]);
  });

  it('a second SESSION_INVALID after the re-login is thrown', async () => {
    const f = await fake();
    f.methods.set('pool.get_all', () => ({ fault: ['SESSION_INVALID', 'OpaqueRef:whatever'] }));
    const s = await login(f);
    const err = await s.call('pool.get_all').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SESSION_INVALID' });
    expect(f.callsOf('session.login_with_password')).toHaveLength(2);
    expect(f.callsOf('pool.get_all')).toHaveLength(2);
  });

  it('concurrent calls share one re-login', async () => {
    const f = await fake();
    f.methods.set('pool.get_all', () => ({ value: ['OpaqueRef:pool'] }));
    const s = await login(f);
    f.sessions.clear();
    const results = await Promise.all([s.call('pool.get_all'), s.call('pool.get_all'), s.call('pool.get_all')]);
    expect(results).toEqual([['OpaqueRef:pool'], ['OpaqueRef:pool'], ['OpaqueRef:pool']]);
    expect(f.callsOf('session.login_with_password')).toHaveLength(2);
  });

  it('a changed password makes the re-login fail with the login error', async () => {
    const f = await fake();
    f.methods.set('pool.get_all', () => ({ value: [] }));
    const s = await login(f);
    f.sessions.clear();
    f.password = 'rotated';
    expect(await s.call('pool.get_all').catch((e: unknown) => e)).toMatchObject({ code: 'SESSION_AUTHENTICATION_FAILED' });
  });
});

describe('logout', () => {
  it('is idempotent, tolerates an already-invalid session, and closes the session', async () => {
    const f = await fake();
    const s = await Session.login({ url: f.url, user: 'root', password: 'secret-pw' });
    f.sessions.clear();
    // The fake answers SESSION_INVALID for logout of an unknown session.
    await s.logout();
    await s.logout();
    expect(f.callsOf('session.logout')).toHaveLength(1);
    expect(s.closed).toBe(true);
    const err = await s.call('pool.get_all').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(f.callsOf('pool.get_all')).toHaveLength(0);
  });

  it('logs the session out on the server', async () => {
    const f = await fake();
    const s = await Session.login({ url: f.url, user: 'root', password: 'secret-pw' });
    const ref = s.ref;
    await s.logout();
    expect(f.sessions.has(ref)).toBe(false);
    expect(plain(f.callsOf('session.logout')[0]!.params[0]!)).toBe(ref);
  });
});

describe('record helpers and versions', () => {
  it('getAllRecords / getRecord / getByUuid / getAllRecordsWhere', async () => {
    const f = await fake();
    const vm = { uuid: 'vm-uuid-1', name_label: 'web', memory_static_max: '4294967296', is_a_template: false };
    f.methods.set('VM.get_all_records', () => ({ value: { 'OpaqueRef:vm1': vm } }));
    f.methods.set('VM.get_record', ([, ref]) => (ref === 'OpaqueRef:vm1' ? { value: vm } : { fault: ['HANDLE_INVALID', 'VM', String(ref)] }));
    f.methods.set('VM.get_by_uuid', ([, u]) => (u === 'vm-uuid-1' ? { value: 'OpaqueRef:vm1' } : { fault: ['UUID_INVALID', 'VM', String(u)] }));
    f.methods.set('VM.get_all_records_where', () => ({ value: { 'OpaqueRef:vm1': vm } }));
    const s = await login(f);
    expect(await s.getAllRecords('VM')).toEqual({ 'OpaqueRef:vm1': vm });
    expect(await s.getRecord('VM', 'OpaqueRef:vm1')).toEqual(vm);
    expect(await s.getByUuid('VM', 'vm-uuid-1')).toBe('OpaqueRef:vm1');
    expect(await s.getByUuid('VM', 'nope').catch((e: unknown) => e)).toMatchObject({ code: 'UUID_INVALID', params: ['VM', 'nope'] });
    expect(await s.getRecord('VM', 'OpaqueRef:gone').catch((e: unknown) => e)).toMatchObject({ code: 'HANDLE_INVALID' });
    const expr = `${fieldEquals('is_a_template', 'false')} and ${fieldEquals('name__label', 'web')}`;
    expect(await s.getAllRecordsWhere('VM', expr)).toEqual({ 'OpaqueRef:vm1': vm });
    expect(plain(f.callsOf('VM.get_all_records_where')[0]!.params[1]!)).toBe('field "is_a_template" = "false" and field "name__label" = "web"');
    await expect(s.getAllRecords('VM; drop')).rejects.toThrow(TypeError);
  });

  it('apiVersion and productVersion read the pool coordinator', async () => {
    const f = await fake();
    f.methods.set('pool.get_all', () => ({ value: ['OpaqueRef:pool'] }));
    f.methods.set('pool.get_master', () => ({ value: 'OpaqueRef:host1' }));
    f.methods.set('host.get_API_version_major', ([, h]) => (h === 'OpaqueRef:host1' ? { value: '2' } : { fault: ['HANDLE_INVALID', 'host', String(h)] }));
    f.methods.set('host.get_API_version_minor', () => ({ value: '21' }));
    f.methods.set('host.get_software_version', () => ({
      value: { product_brand: 'XenServer', product_version: '8.4.0', platform_version: '3.4.0', xapi: '25.6', build_number: 'stream', hostname: 'xs1' },
    }));
    const s = await login(f);
    expect(await s.apiVersion()).toEqual({ major: 2, minor: 21 });
    expect(await s.productVersion()).toMatchObject({ brand: 'XenServer', version: '8.4.0', xapi: '25.6', hostname: 'xs1' });
  });

  it('unknown methods surface as MESSAGE_METHOD_UNKNOWN', async () => {
    const f = await fake();
    const s = await login(f);
    expect(await s.call('VM.frobnicate').catch((e: unknown) => e)).toMatchObject({ code: 'MESSAGE_METHOD_UNKNOWN', params: ['VM.frobnicate'] });
  });
});
