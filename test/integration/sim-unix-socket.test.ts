/**
 * The simulator's local UNIX socket (a host's /var/lib/xcp/xapi): the same HTTP surface as
 * its TCP port, with XAPI's local-socket trust (xen-api ocaml/xapi/context.ml preauth,
 * xapi_session.ml, xapi_http.ml), session.slave_local_login_with_password and
 * session.local_logout, and the socket file's life: made under the state folder, owner only,
 * removed on stop, a stale one from a killed simulator taken over, a live one refused.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { existsSync } from 'node:fs';
import { lstat, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isStruct, parseMethodResponse, type XmlRpcValue } from '../../src/sim/codec.js';
import { startDemoSimulator, type SimHandle } from '../../src/sim/index.js';
import { startSimulator, type SimulatorOptions } from '../../src/sim/server.js';
import { encodeCall, rawRequest, rpc, rpcFail, RpcFailure, tempDir, type Arg } from './sim-helpers.js';

const PASSWORD = 'socket-test-pw';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** One HTTP request over a UNIX socket, with Node's own client (no product code). */
function overSocket(socketPath: string, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, method, path, agent: false, headers: { ...(body !== undefined && { 'content-length': String(Buffer.byteLength(body)) }), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function socketRpc(socketPath: string, method: string, ...args: Arg[]): Promise<XmlRpcValue> {
  const res = await overSocket(socketPath, 'POST', '/', encodeCall(method, args), { 'content-type': 'text/xml' });
  expect(res.status).toBe(200);
  const env = parseMethodResponse(res.text).value;
  if (!isStruct(env)) throw new Error(`not a Status envelope: ${res.text}`);
  if (env.Status === 'Success') return env.Value ?? null;
  throw new RpcFailure((env.ErrorDescription as string[]) ?? []);
}

async function socketRpcFail(socketPath: string, method: string, ...args: Arg[]): Promise<string[]> {
  try {
    await socketRpc(socketPath, method, ...args);
  } catch (e) {
    if (e instanceof RpcFailure) return e.description;
    throw e;
  }
  throw new Error(`expected ${method} to fail`);
}

const sessionCount = (sim: SimHandle) => sim.db.refs('session').length;

/** Runs `fn` on a fresh folder, removed afterwards. */
async function inTempDir(prefix: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir(prefix);
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs `fn` on a simulator started with `opts`, stopped afterwards. */
async function withSim(opts: SimulatorOptions, fn: (sim: SimHandle) => Promise<void>): Promise<void> {
  const sim = await startSimulator(opts);
  try {
    await fn(sim);
  } finally {
    await sim.stop();
  }
}

describe('a simulator with its local socket', () => {
  let dir: string;
  let sim: SimHandle;
  let socket: string;
  let vm: string;

  beforeAll(async () => {
    dir = await tempDir('sim-socket-');
    // A long password wait would show up as a timeout wherever a login waits for it.
    sim = await startDemoSimulator({ stateDir: join(dir, 'state'), vms: 2, seed: 3, rootPassword: PASSWORD, authDelayMs: 60_000 });
    socket = sim.socketPath!;
    vm = sim.db.findRef('VM', (r) => !r.is_a_template && !r.is_control_domain)!;
  });
  afterAll(async () => {
    await sim?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('the socket is <state>/xapi, a socket only its owner may use', async () => {
    expect(socket).toBe(join(dir, 'state', 'xapi'));
    const st = await lstat(socket);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
  });

  test('login_with_password over the socket: no password check, any user name, a local superuser session', async () => {
    const ref = (await socketRpc(socket, 'session.login_with_password', 'backup-tool', 'not the password', '1.0', 'dom0-script')) as string;
    const rec = (await rpc(sim.url, 'session.get_record', ref, ref)) as Record<string, XmlRpcValue>;
    expect(rec).toMatchObject({ auth_user_name: 'backup-tool', is_local_superuser: true, originator: 'dom0-script' });
    // A login over the socket is a session like any other: good over TCP too.
    expect(await rpc(sim.url, 'pool.get_all', ref)).toHaveLength(1);
    await socketRpc(socket, 'session.logout', ref);
    expect(await rpcFail(sim.url, 'session.get_record', ref, ref)).toEqual(['SESSION_INVALID', ref]);
  });

  test('JSON-RPC over the socket logs in without a password too', async () => {
    const res = await overSocket(
      socket,
      'POST',
      '/jsonrpc',
      JSON.stringify({ jsonrpc: '2.0', method: 'session.login_with_password', params: ['root', '', '2.0', 'json'], id: 7 }),
      { 'content-type': 'application/json' },
    );
    const answer = JSON.parse(res.text) as { result: string; id: number };
    expect(answer.id).toBe(7);
    expect(answer.result).toMatch(/^OpaqueRef:/);
    await socketRpc(socket, 'session.logout', answer.result);
  });

  test('HTTP handlers over the socket need no credentials and ignore a bad session_id; over TCP they answer 401', async () => {
    const before = sessionCount(sim);
    const noCreds = await overSocket(socket, 'GET', `/export_metadata?ref=${vm}`);
    expect(noCreds.status).toBe(200);
    expect(noCreds.text).toContain('ova.xml');
    const badSession = await overSocket(socket, 'GET', `/export_metadata?ref=${vm}&session_id=OpaqueRef:not-a-session`);
    expect(badSession.status).toBe(200);
    // The handler's own session is gone once it has answered.
    expect(sessionCount(sim)).toBe(before);
    const tcp = await rawRequest(sim.url, { method: 'GET', path: `/export_metadata?ref=${vm}` });
    expect(tcp.status).toBe(401);
  });

  test('an unknown path over the socket is answered as over TCP', async () => {
    expect((await overSocket(socket, 'GET', '/no-such-handler')).status).toBe(404);
    expect((await overSocket(socket, 'PUT', '/no-such-handler', '')).status).toBe(403);
  });

  describe('session.slave_local_login_with_password and session.local_logout', () => {
    test('over TCP: the root password is checked, a wrong one fails at once (no login wait)', async () => {
      expect(await rpcFail(sim.url, 'session.slave_local_login_with_password', 'root', 'wrong')).toEqual(['SESSION_AUTHENTICATION_FAILED', 'root', 'Authentication failure']);
      // Only the local superuser: another name with root's password is refused.
      expect(await rpcFail(sim.url, 'session.slave_local_login_with_password', 'admin', PASSWORD)).toEqual(['SESSION_AUTHENTICATION_FAILED', 'admin', 'Authentication failure']);
      expect(await rpcFail(sim.url, 'session.slave_local_login_with_password', 'root')).toEqual(['MESSAGE_PARAMETER_COUNT_MISMATCH', 'session.slave_local_login_with_password', '2', '1']);
    });

    test('a local session works for calls but has no record, and only local_logout ends it', async () => {
      const local = (await rpc(sim.url, 'session.slave_local_login_with_password', 'root', PASSWORD)) as string;
      expect(local).toMatch(/^OpaqueRef:[0-9a-f-]{36}$/);
      expect(await rpc(sim.url, 'pool.get_all', local)).toHaveLength(1);
      // Kept in memory, not in the database (xapi_local_session.ml).
      expect(sim.db.exists('session', local)).toBe(false);
      expect(await rpcFail(sim.url, 'session.get_record', local, local)).toEqual(['HANDLE_INVALID', 'session', local]);
      // An HTTP handler takes it as session_id.
      const task = (await rpc(sim.url, 'task.create', local, 'export', '')) as string;
      const res = await rawRequest(sim.url, { method: 'GET', path: `/export_metadata?ref=${vm}&session_id=${local}&task_id=${task}` });
      expect(res.status).toBe(200);
      // session.logout leaves a local session alone (XAPI ignores the missing row).
      expect(await rpc(sim.url, 'session.logout', local)).toBe('');
      expect(await rpc(sim.url, 'pool.get_all', local)).toHaveLength(1);
      expect(await rpc(sim.url, 'session.local_logout', local)).toBe('');
      expect(await rpcFail(sim.url, 'pool.get_all', local)).toEqual(['SESSION_INVALID', local]);
    });

    test('local_logout of a database session leaves it valid', async () => {
      const ref = (await rpc(sim.url, 'session.login_with_password', 'root', PASSWORD, '1.0', 't')) as string;
      expect(await rpc(sim.url, 'session.local_logout', ref)).toBe('');
      expect(await rpc(sim.url, 'pool.get_all', ref)).toHaveLength(1);
      await rpc(sim.url, 'session.logout', ref);
    });

    test('over the socket: any password', async () => {
      const local = (await socketRpc(socket, 'session.slave_local_login_with_password', 'root', '')) as string;
      expect(await socketRpc(socket, 'pool.get_all', local)).toHaveLength(1);
      await socketRpc(socket, 'session.local_logout', local);
      expect(await socketRpcFail(socket, 'pool.get_all', local)).toEqual(['SESSION_INVALID', local]);
    });
  });
});

test('every profile has the emergency login and local_logout (published in miami, XenServer 4.1)', async () => {
  for (const profile of ['xs41', 'xs71', 'ch82', 'xs8'] as const) {
    await inTempDir('sim-socket-prof-', (dir) =>
      withSim({ stateDir: dir, profile, socketPath: false }, async (sim) => {
        const listed = (await rawRequest(sim.url, { body: encodeCall('system.listMethods', []), headers: { 'content-type': 'text/xml' } })).text;
        expect(listed, profile).toContain('<value>session.slave_local_login_with_password</value>');
        expect(listed, profile).toContain('<value>session.local_logout</value>');
      }),
    );
  }
});

describe('a supporter (--supporter-of) with its local socket', () => {
  test('TCP logins answer HOST_IS_SLAVE; the socket logs in; the emergency login works over TCP', async () => {
    await inTempDir('sim-socket-sup-', (dir) =>
      withSim({ stateDir: dir, rootPassword: PASSWORD, supporterOf: '192.0.2.10' }, async (sim) => {
        expect(await rpcFail(sim.url, 'session.login_with_password', 'root', PASSWORD, '1.0', 't')).toEqual(['HOST_IS_SLAVE', '192.0.2.10']);
        const ref = (await socketRpc(sim.socketPath!, 'session.login_with_password', 'root', '', '1.0', 't')) as string;
        expect(await socketRpc(sim.socketPath!, 'pool.get_all', ref)).toHaveLength(1);
        // Meant for a supporter whose master is away: no pool-role check.
        const local = (await rpc(sim.url, 'session.slave_local_login_with_password', 'root', PASSWORD)) as string;
        expect(await rpc(sim.url, 'host.get_all', local)).toHaveLength(1);
      }),
    );
  });
});

describe('the socket file', () => {
  test('removed on stop; a local session does not outlive a restart', async () => {
    await inTempDir('sim-socket-life-', async (dir) => {
      let local = '';
      await withSim({ stateDir: dir, rootPassword: PASSWORD }, async (a) => {
        local = (await rpc(a.url, 'session.slave_local_login_with_password', 'root', PASSWORD)) as string;
      });
      expect(existsSync(join(dir, 'xapi'))).toBe(false);
      await withSim({ stateDir: dir }, async (b) => {
        expect(await rpcFail(b.url, 'pool.get_all', local)).toEqual(['SESSION_INVALID', local]);
      });
    });
  });

  test('a stale socket left by a killed simulator does not stop a restart', async () => {
    await inTempDir('sim-socket-stale-', async (dir) => {
      const path = join(dir, 'xapi');
      // A process that listens on the path and is killed leaves the file behind.
      const child = spawn(process.execPath, ['-e', "require('node:net').createServer().listen(process.argv[1], () => console.log('up'))", path], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((ok) => child.stdout!.once('data', () => ok()));
      await new Promise<void>((ok) => {
        child.once('exit', () => ok());
        child.kill('SIGKILL');
      });
      expect((await lstat(path)).isSocket()).toBe(true);
      await withSim({ stateDir: dir, rootPassword: PASSWORD }, async () => {
        expect(await socketRpc(path, 'session.login_with_password', 'root', '', '1.0', 't')).toMatch(/^OpaqueRef:/);
      });
    });
  });

  test('a socket someone serves, a file that is not a socket and a path too long for a socket are refused', async () => {
    await inTempDir('sim-socket-refuse-', async (dir) => {
      await withSim({ stateDir: join(dir, 'a'), rootPassword: PASSWORD }, async (a) => {
        await expect(startSimulator({ stateDir: join(dir, 'b'), socketPath: a.socketPath! })).rejects.toThrow(/another process is serving/);
        // The refusal left the first one's socket in place and serving.
        expect(await socketRpc(a.socketPath!, 'session.login_with_password', 'root', '', '1.0', 't')).toMatch(/^OpaqueRef:/);
      });
      await mkdir(join(dir, 'c'));
      await writeFile(join(dir, 'c', 'xapi'), 'not a socket');
      await expect(startSimulator({ stateDir: join(dir, 'c') })).rejects.toThrow(/is not a socket/);
      await expect(startSimulator({ stateDir: join(dir, 'd'), socketPath: join(dir, 'x'.repeat(120)) })).rejects.toThrow(/longer than 107 bytes/);
    });
  });

  test('socketPath: false serves no socket; another path is honoured', async () => {
    await inTempDir('sim-socket-opt-', async (dir) => {
      await withSim({ stateDir: join(dir, 'a'), socketPath: false }, async (a) => {
        expect(a.socketPath).toBeUndefined();
        expect(existsSync(join(dir, 'a', 'xapi'))).toBe(false);
      });
      await withSim({ stateDir: join(dir, 'b'), socketPath: join(dir, 'elsewhere.sock') }, async (b) => {
        expect(b.socketPath).toBe(join(dir, 'elsewhere.sock'));
        expect((await lstat(b.socketPath!)).isSocket()).toBe(true);
      });
    });
  });
});
