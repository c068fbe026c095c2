/**
 * State across restarts: db.json, VDI files, root password hash, profile, TLS certificate.
 */
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import type { XmlRpcStruct } from '../../src/sim/codec.js';
import { startSimulator, type SimHandle } from '../../src/sim/server.js';
import { login, rpc, rpcFail, tempDir } from './sim-helpers.js';

const dirs: string[] = [];
const running: SimHandle[] = [];
async function start(opts: Parameters<typeof startSimulator>[0]): Promise<SimHandle> {
  const sim = await startSimulator(opts);
  running.push(sim);
  return sim;
}
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('persistence', () => {
  test('objects, relations, files and the password survive a restart; sessions do not', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    let populated = 0;
    const populate = (db: SimHandle['db'], ctx: { host: string }) => {
      populated++;
      const sr = db.create('SR', { name_label: 'Local storage', type: 'ext', physical_size: 2 ** 34 });
      db.create('PBD', { host: ctx.host, SR: sr, currently_attached: true });
    };
    const a = await start({ stateDir: dir, rootPassword: 'first-pw', profile: 'ch82', populate });
    expect(a.created).toBe(true);
    const s = await login(a.url, 'first-pw');
    const sr = (await rpc(a.url, 'SR.get_by_name_label', s, 'Local storage') as string[])[0] as string;
    const vdi = (await rpc(a.url, 'VDI.create', s, {
      name_label: 'kept', name_description: '', SR: sr, virtual_size: '65536', type: 'user', sharable: false, read_only: false, other_config: { k: 'v' },
    })) as string;
    const vdiUuid = (await rpc(a.url, 'VDI.get_uuid', s, vdi)) as string;
    await a.stop();
    running.splice(0);

    const text = await readFile(join(dir, 'db.json'), 'utf8');
    expect(() => JSON.parse(text) as unknown).not.toThrow();
    expect(text).not.toContain('first-pw');

    const b = await start({ stateDir: dir, rootPassword: 'ignored-on-restart', populate });
    expect(b.created).toBe(false);
    expect(populated).toBe(1);
    expect(await rpcFail(b.url, 'VDI.get_all', s)).toEqual(['SESSION_INVALID', s]);
    expect((await rpcFail(b.url, 'session.login_with_password', 'root', 'ignored-on-restart'))[0]).toBe('SESSION_AUTHENTICATION_FAILED');
    const s2 = await login(b.url, 'first-pw');
    expect(await rpc(b.url, 'VDI.get_by_uuid', s2, vdiUuid)).toBe(vdi); // refs are stable too
    const rec = (await rpc(b.url, 'VDI.get_record', s2, vdi)) as XmlRpcStruct;
    expect(rec.other_config).toEqual(Object.assign(Object.create(null), { k: 'v' }));
    expect(await rpc(b.url, 'SR.get_VDIs', s2, sr)).toEqual([vdi]);
    expect((await stat(join(dir, 'srs', b.db.get('SR', sr).uuid, `${vdiUuid}.img`))).size).toBe(65536);
    // the profile is part of the state
    const host = (await rpc(b.url, 'session.get_this_host', s2, s2)) as string;
    expect(await rpc(b.url, 'host.get_API_version_minor', s2, host)).toBe('15');
    expect(b.profile.name).toBe('ch82');
    await b.stop();
    running.splice(0);

    // starting with another profile "upgrades" the host
    const c = await start({ stateDir: dir, profile: 'xs8' });
    const s3 = await login(c.url, 'first-pw');
    const h = (await rpc(c.url, 'session.get_this_host', s3, s3)) as string;
    expect(await rpc(c.url, 'host.get_API_version_minor', s3, h)).toBe('21');
    expect(((await rpc(c.url, 'host.get_software_version', s3, h)) as XmlRpcStruct).xapi).toBe('25.27');
  });

  test('debounced writes reach the disk without a stop (flush)', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const a = await start({ stateDir: dir });
    const s = await login(a.url);
    const pool = ((await rpc(a.url, 'pool.get_all', s)) as string[])[0] as string;
    await rpc(a.url, 'pool.set_name_label', s, pool, 'written-later');
    await a.db.flush();
    expect(await readFile(join(dir, 'db.json'), 'utf8')).toContain('written-later');
  });
});

describe('TLS', () => {
  test('https with a self-signed certificate whose fingerprint is stable across restarts', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const a = await start({ stateDir: dir, tls: true });
    expect(a.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(a.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const s = await login(a.url);
    expect(s).toMatch(/^OpaqueRef:/);
    const fp = a.fingerprint;
    await a.stop();
    running.splice(0);
    const b = await start({ stateDir: dir, tls: true });
    expect(b.fingerprint).toBe(fp);
    expect((await stat(join(dir, 'key.pem'))).mode & 0o077).toBe(0);
  });
});
