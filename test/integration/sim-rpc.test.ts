/**
 * The simulator's XML-RPC surface over a real socket, checked byte for byte against the
 * wire format of xen-api doc/content/xen-api/wire-protocol.md with hand-written request
 * bodies.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readFile } from 'node:fs/promises';
import type { SimHandle } from '../../src/sim/server.js';
import { isStruct, parseMethodResponse, type XmlRpcStruct } from '../../src/sim/codec.js';
import { login, postXml, rpc, rpcFail, startTempSim } from './sim-helpers.js';

const HEAD = '<?xml version="1.0"?><methodResponse><params><param><value><struct>';
const TAIL = '</struct></value></param></params></methodResponse>';
const success = (valueXml: string) => `${HEAD}<member><name>Status</name><value>Success</value></member><member><name>Value</name>${valueXml}</member>${TAIL}`;
const failure = (...desc: string[]) =>
  `${HEAD}<member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data>${desc
    .map((d) => `<value>${d}</value>`)
    .join('')}</data></array></value></member>${TAIL}`;

let sim: SimHandle;
let cleanup: () => Promise<void>;
let session: string;

beforeAll(async () => {
  ({ sim, cleanup } = await startTempSim({ rootPassword: 's3cret-pw' }));
  session = await login(sim.url, 's3cret-pw');
});
afterAll(async () => cleanup());

describe('envelopes and transport', () => {
  test('login with a literal body returns a bare-string ref in a Success envelope, XAPI headers', async () => {
    const body =
      '<?xml version="1.0"?><methodCall><methodName>session.login_with_password</methodName><params>' +
      '<param><value><string>root</string></value></param><param><value>s3cret-pw</value></param>' +
      '<param><value><string/></value></param><param><value><string>XSConsole</string></value></param></params></methodCall>';
    const res = await postXml(sim.url, body);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/xml');
    expect(res.headers['cache-control']).toBe('no-cache, no-store');
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(res.headers['access-control-allow-headers']).toBe('X-Requested-With');
    expect(Number(res.headers['content-length'])).toBe(res.body.length);
    expect(res.text).toMatch(/^<\?xml version="1\.0"\?><methodResponse><params><param><value><struct><member><name>Status<\/name><value>Success<\/value><\/member><member><name>Value<\/name><value>OpaqueRef:[0-9a-f-]{36}<\/value><\/member><\/struct><\/value><\/param><\/params><\/methodResponse>$/);
  });

  test('wrong password: exact Failure bytes, HTTP 200, and the password is nowhere in the reply', async () => {
    const body =
      '<?xml version="1.0"?><methodCall><methodName>session.login_with_password</methodName><params>' +
      '<param><value>root</value></param><param><value>not-the-password</value></param></params></methodCall>';
    const res = await postXml(sim.url, body);
    expect(res.status).toBe(200);
    expect(res.text).toBe(failure('SESSION_AUTHENTICATION_FAILED', 'root', 'Authentication failure'));
    expect(res.text).not.toContain('not-the-password');
  });

  test('unknown method and parameter count mismatch', async () => {
    const unknown = await postXml(sim.url, '<?xml version="1.0"?><methodCall><methodName>VM.frobnicate</methodName><params/></methodCall>');
    expect(unknown.text).toBe(failure('MESSAGE_METHOD_UNKNOWN', 'VM.frobnicate'));
    const count = await postXml(
      sim.url,
      `<methodCall><methodName>VM.get_record</methodName><params><param><value>${session}</value></param></params></methodCall>`,
    );
    // XAPI's counts leave the session out (gen_server.ml): VM.get_record takes 1, got 0
    expect(count.text).toBe(failure('MESSAGE_PARAMETER_COUNT_MISMATCH', 'VM.get_record', '1', '0'));
    expect(await rpcFail(sim.url, 'VM.get_record', session, 'OpaqueRef:a', 'OpaqueRef:b')).toEqual(['MESSAGE_PARAMETER_COUNT_MISMATCH', 'VM.get_record', '1', '2']);
    // login: version and originator are defaulted, so 2 are required and extra ones ignored
    expect(await rpcFail(sim.url, 'session.login_with_password', 'root')).toEqual(['MESSAGE_PARAMETER_COUNT_MISMATCH', 'session.login_with_password', '2', '1']);
    expect(await rpc(sim.url, 'session.login_with_password', 'root', 's3cret-pw', '', 'o', 'extra')).toMatch(/^OpaqueRef:/);
    const s3 = await rpc(sim.url, 'session.login_with_password', 'root', 's3cret-pw', '1.0');
    expect(s3).toMatch(/^OpaqueRef:/);
  });

  test('values: int64 bare, bool as <boolean>, float as <double>, dateTime, maps and sets', async () => {
    const hostRef = (await rpc(sim.url, 'pool.get_master', session, (await rpc(sim.url, 'pool.get_all', session) as string[])[0] as string)) as string;
    const major = await postXml(sim.url, `<methodCall><methodName>host.get_API_version_major</methodName><params><param><value>${session}</value></param><param><value>${hostRef}</value></param></params></methodCall>`);
    expect(major.text).toBe(success('<value>2</value>'));
    const enabled = await postXml(sim.url, `<methodCall><methodName>host.get_enabled</methodName><params><param><value>${session}</value></param><param><value>${hostRef}</value></param></params></methodCall>`);
    expect(enabled.text).toBe(success('<value><boolean>1</boolean></value>'));
    const task = (await rpc(sim.url, 'task.create', session, 'label <&>', 'd')) as string;
    await rpc(sim.url, 'task.set_progress', session, task, { dbl: 0.25 });
    const progress = await postXml(sim.url, `<methodCall><methodName>task.get_progress</methodName><params><param><value>${session}</value></param><param><value>${task}</value></param></params></methodCall>`);
    expect(progress.text).toBe(success('<value><double>0.25</double></value>'));
    const label = await postXml(sim.url, `<methodCall><methodName>task.get_name_label</methodName><params><param><value>${session}</value></param><param><value>${task}</value></param></params></methodCall>`);
    expect(label.text).toBe(success('<value>label &lt;&amp;&gt;</value>'));
    const created = await postXml(sim.url, `<methodCall><methodName>task.get_created</methodName><params><param><value>${session}</value></param><param><value>${task}</value></param></params></methodCall>`);
    expect(created.text).toMatch(/<value><dateTime\.iso8601>\d{8}T\d\d:\d\d:\d\dZ<\/dateTime\.iso8601><\/value>/);
    const ops = await postXml(sim.url, `<methodCall><methodName>task.get_allowed_operations</methodName><params><param><value>${session}</value></param><param><value>${task}</value></param></params></methodCall>`);
    expect(ops.text).toBe(success('<value><array><data><value>cancel</value></data></array></value>'));
    const oc = await postXml(sim.url, `<methodCall><methodName>task.get_other_config</methodName><params><param><value>${session}</value></param><param><value>${task}</value></param></params></methodCall>`);
    expect(oc.text).toBe(success('<value><struct></struct></value>'));
  });

  test('accepts CDATA, <i8>/<int>/<string> ints, empty <value></value> and whitespace between elements', async () => {
    const pool = ((await rpc(sim.url, 'pool.get_all', session)) as string[])[0] as string;
    const body = `<?xml version="1.0"?>
<methodCall>
  <methodName>pool.set_name_label</methodName>
  <params>
    <param><value><string>${session}</string></value></param>
    <param>
      <value><string>${pool}</string></value>
    </param>
    <param><value><string><![CDATA[a <b> & "c"]]></string></value></param>
  </params>
</methodCall>`;
    expect((await postXml(sim.url, body)).text).toBe(success('<value></value>'));
    expect(await rpc(sim.url, 'pool.get_name_label', session, pool)).toBe('a <b> & "c"');
    await postXml(sim.url, `<methodCall><methodName>pool.set_name_description</methodName><params><param><value>${session}</value></param><param><value>${pool}</value></param><param><value></value></param></params></methodCall>`);
    expect(await rpc(sim.url, 'pool.get_name_description', session, pool)).toBe('');
  });

  test('unparseable XML and DOCTYPE/entity bodies get HTTP 500 text/html', async () => {
    for (const body of [
      '<methodCall><methodName>x</methodName',
      '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><methodCall><methodName>&lol;</methodName></methodCall>',
      '<methodCall><methodName>&undefined;</methodName></methodCall>',
      'not xml at all',
    ]) {
      const res = await postXml(sim.url, body);
      expect(res.status).toBe(500);
      expect(res.headers['content-type']).toBe('text/html');
      expect(res.text).toContain('HTTP 500 internal server error');
    }
  });

  test('XML-RPC answers on any path; unknown HTTP methods get 501; unregistered PUT 403', async () => {
    for (const path of ['/RPC2', '/xmlrpc', '/anything/else']) {
      const res = await postXml(new URL(path, sim.url).href, `<methodCall><methodName>VM.get_all</methodName><params><param><value>${session}</value></param></params></methodCall>`);
      expect(res.status).toBe(200);
      expect(res.text.startsWith(`${HEAD}<member><name>Status</name><value>Success</value>`)).toBe(true);
    }
    const { rawRequest } = await import('./sim-helpers.js');
    expect((await rawRequest(sim.url, { method: 'DELETE', path: '/' })).status).toBe(501);
    expect((await rawRequest(sim.url, { method: 'PUT', path: '/nowhere', body: 'x' })).status).toBe(403);
  });
});

describe('sessions', () => {
  test('logout invalidates the session: SESSION_INVALID [ref]', async () => {
    const s = await login(sim.url, 's3cret-pw');
    expect(await rpc(sim.url, 'session.get_this_host', s, s)).toMatch(/^OpaqueRef:/);
    await rpc(sim.url, 'session.logout', s);
    expect(await rpcFail(sim.url, 'VM.get_all', s)).toEqual(['SESSION_INVALID', s]);
    expect(await rpcFail(sim.url, 'VM.get_all', 'OpaqueRef:bogus')).toEqual(['SESSION_INVALID', 'OpaqueRef:bogus']);
  });

  test('a supporter answers HOST_IS_SLAVE before checking the password', async () => {
    const sup = await startTempSim({ supporterOf: '192.0.2.10' });
    try {
      const body =
        '<methodCall><methodName>session.login_with_password</methodName><params><param><value>root</value></param><param><value>wrong</value></param><param><value>1.0</value></param><param><value>x</value></param></params></methodCall>';
      expect((await postXml(sup.sim.url, body)).text).toBe(failure('HOST_IS_SLAVE', '192.0.2.10'));
      expect(await rpcFail(sup.sim.url, 'session.login_with_password', 'root', 'demo', '', '')).toEqual(['HOST_IS_SLAVE', '192.0.2.10']);
    } finally {
      await sup.cleanup();
    }
  });

  test('auth delay is applied to bad passwords only', async () => {
    // A delay long beside a good login's time even on a loaded machine (files run two at a time).
    const slow = await startTempSim({ authDelayMs: 1000 });
    try {
      let t = Date.now();
      await rpcFail(slow.sim.url, 'session.login_with_password', 'root', 'bad');
      expect(Date.now() - t).toBeGreaterThanOrEqual(990);
      t = Date.now();
      await login(slow.sim.url);
      expect(Date.now() - t).toBeLessThan(990);
    } finally {
      await slow.cleanup();
    }
  });

  test('the xs41 profile: login defaults, API 1.2, no control_domain, no event.from / inject, no JSON-RPC', async () => {
    const old = await startTempSim({ profile: 'xs41' });
    try {
      // a defaulted parameter makes XAPI's dispatcher take extra ones (gen_server.ml)
      expect(await rpc(old.sim.url, 'session.login_with_password', 'root', 'demo', '', 'XSConsole')).toMatch(/^OpaqueRef:/);
      expect(await rpcFail(old.sim.url, 'session.login_with_password', 'root')).toEqual(['MESSAGE_PARAMETER_COUNT_MISMATCH', 'session.login_with_password', '2', '1']);
      const s = (await rpc(old.sim.url, 'session.login_with_password', 'root', 'demo', '1.0')) as string;
      expect(await rpcFail(old.sim.url, 'event.from', s, ['VM'], '', { dbl: 0 })).toEqual(['MESSAGE_METHOD_UNKNOWN', 'event.from']);
      expect(await rpcFail(old.sim.url, 'event.inject', s, 'pool', 'OpaqueRef:x')).toEqual(['MESSAGE_METHOD_UNKNOWN', 'event.inject']);
      const json = await fetch(`${old.sim.url}/jsonrpc`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","method":"session.logout","params":[],"id":1}' });
      expect(json.status).toBe(500); // no JSON-RPC: the body reaches the XML-RPC parser
      const host = (await rpc(old.sim.url, 'session.get_this_host', s, s)) as string;
      expect(await rpc(old.sim.url, 'host.get_API_version_minor', s, host)).toBe('2'); // int64 travels bare
      expect(await rpcFail(old.sim.url, 'host.get_control_domain', s, host)).toEqual(['MESSAGE_METHOD_UNKNOWN', 'host.get_control_domain']);
      const rec = (await rpc(old.sim.url, 'host.get_record', s, host)) as XmlRpcStruct;
      expect('control_domain' in rec).toBe(false);
    } finally {
      await old.cleanup();
    }
  });
});

describe('records and lookups', () => {
  test('bootstrap: one pool, master with versions, control domain, management network', async () => {
    const pools = (await rpc(sim.url, 'pool.get_all', session)) as string[];
    expect(pools).toHaveLength(1);
    const pool = (await rpc(sim.url, 'pool.get_record', session, pools[0] as string)) as XmlRpcStruct;
    const master = pool.master as string;
    expect(pool.default_SR).toBe('OpaqueRef:NULL');
    const host = (await rpc(sim.url, 'host.get_record', session, master)) as XmlRpcStruct;
    expect(host.API_version_major).toBe('2'); // bare int64 reads back as text
    expect(host.API_version_minor).toBe('21');
    const sv = host.software_version as XmlRpcStruct;
    expect(sv.product_brand).toBe('XenServer');
    expect(sv.product_version).toBe('8.4.0');
    expect(sv.xapi).toBe('25.27');
    // A host announces no local paths; its inventory (in the state folder) names it and dom0.
    expect(Object.keys(host.other_config as XmlRpcStruct)).toEqual([]);
    const dom0 = (await rpc(sim.url, 'host.get_control_domain', session, master)) as string;
    const vm = (await rpc(sim.url, 'VM.get_record', session, dom0)) as XmlRpcStruct;
    const inventory = await readFile(sim.inventoryPath, 'utf8');
    expect(inventory).toContain(`INSTALLATION_UUID='${host.uuid as string}'\n`);
    expect(inventory).toContain(`CONTROL_DOMAIN_UUID='${vm.uuid as string}'\n`);
    expect(vm.is_control_domain).toBe(true);
    expect(vm.power_state).toBe('Running');
    expect(vm.domid).toBe('0');
    expect(vm.resident_on).toBe(master);
    expect(host.resident_VMs).toEqual([dom0]);
    const nets = (await rpc(sim.url, 'network.get_all_records', session)) as XmlRpcStruct;
    const net = Object.values(nets)[0] as XmlRpcStruct;
    expect(net.bridge).toBe('xenbr0');
    expect((net.PIFs as string[]).length).toBe(1);
  });

  test('get_by_uuid, HANDLE_INVALID, UUID_INVALID, get_by_name_label', async () => {
    const dom0 = ((await rpc(sim.url, 'VM.get_all', session)) as string[])[0] as string;
    const uuid = (await rpc(sim.url, 'VM.get_uuid', session, dom0)) as string;
    expect(await rpc(sim.url, 'VM.get_by_uuid', session, uuid)).toBe(dom0);
    expect(await rpcFail(sim.url, 'VM.get_by_uuid', session, '00000000-0000-0000-0000-000000000000')).toEqual([
      'UUID_INVALID',
      'VM',
      '00000000-0000-0000-0000-000000000000',
    ]);
    expect(await rpcFail(sim.url, 'VDI.get_record', session, 'OpaqueRef:nope')).toEqual(['HANDLE_INVALID', 'VDI', 'OpaqueRef:nope']);
    const label = (await rpc(sim.url, 'VM.get_name_label', session, dom0)) as string;
    expect(await rpc(sim.url, 'VM.get_by_name_label', session, label)).toEqual([dom0]);
  });

  test('other_config setters: add_to / remove_from / set, MAP_DUPLICATE_KEY, tags', async () => {
    const dom0 = ((await rpc(sim.url, 'VM.get_all', session)) as string[])[0] as string;
    await rpc(sim.url, 'VM.add_to_other_config', session, dom0, 'k', 'v');
    expect(await rpcFail(sim.url, 'VM.add_to_other_config', session, dom0, 'k', 'w')).toEqual(['MAP_DUPLICATE_KEY', 'VM', 'other_config', dom0, 'k']);
    expect(await rpc(sim.url, 'VM.get_other_config', session, dom0)).toEqual(Object.assign(Object.create(null), { k: 'v' }));
    await rpc(sim.url, 'VM.remove_from_other_config', session, dom0, 'k');
    await rpc(sim.url, 'VM.add_tags', session, dom0, 'dr');
    expect(await rpc(sim.url, 'VM.get_tags', session, dom0)).toEqual(['dr']);
    await rpc(sim.url, 'VM.set_other_config', session, dom0, { a: '1', b: '2' });
    expect(Object.keys((await rpc(sim.url, 'VM.get_other_config', session, dom0)) as object)).toEqual(['a', 'b']);
    expect(await rpcFail(sim.url, 'VM.set_power_state', session, dom0, 'Halted')).toEqual(['MESSAGE_METHOD_UNKNOWN', 'VM.set_power_state']);
  });

  test('get_all_records_where: grammar, name__label columns, not/and/or precedence, INVALID_VALUE', async () => {
    const db = sim.db;
    const master = db.get('pool', db.refs('pool')[0] as string).master;
    const mk = (name: string, tmpl: boolean) => db.create('VM', { name_label: name, is_a_template: tmpl, power_state: 'Halted' });
    const a = mk('alpha', false);
    const b = mk('beta', true);
    const c = mk('gamma "q"', false);
    const keys = async (expr: string) => Object.keys((await rpc(sim.url, 'VM.get_all_records_where', session, expr)) as XmlRpcStruct).sort();
    expect(await keys('field "name__label" = "alpha"')).toEqual([a]);
    expect(await keys('"beta"=field "name__label"')).toEqual([b]);
    expect(await keys('field "is_a_template" = "true" and field "is_a_snapshot" = "false"')).toEqual([b]);
    expect(await keys('(field "uuid"="nope") or (field "name__label"="alpha")')).toEqual([a]);
    expect(await keys(`field "is_control_domain" = "true" and field "resident_on" = "${master}"`)).toHaveLength(1);
    // not binds looser than and: not (A and B)
    expect(await keys('not field "name__label" = "alpha" and field "is_a_template" = "true"')).toEqual(
      [a, b, c, ...(await keys('field "is_control_domain" = "true"'))].filter((r) => r !== undefined).sort(),
    );
    expect(await keys('false or true')).toHaveLength(db.count('VM'));
    expect(await keys('field "power_state" = "Halted"')).toEqual([a, b, c].sort());
    // the plain field name is not a column for namespaced fields
    expect((await rpcFail(sim.url, 'VM.get_all_records_where', session, 'field "name_label" = "alpha"'))[0]).toBe('INTERNAL_ERROR');
    for (const bad of ['field "x" =', 'field name__label = "a"', '"a" = "b" "c"', 'field "x" = "unterminated', '']) {
      const err = await rpcFail(sim.url, 'VM.get_all_records_where', session, bad);
      expect(err[0]).toBe('INVALID_VALUE');
      expect(err[1]).toBe(bad);
    }
    for (const r of [a, b, c]) db.destroy('VM', r);
  });

  test('records are complete: every VDI/VM field from the schema with the right wire type', async () => {
    const recs = (await rpc(sim.url, 'VM.get_all_records', session)) as XmlRpcStruct;
    const rec = Object.values(recs)[0] as XmlRpcStruct;
    expect(isStruct(rec)).toBe(true);
    for (const f of ['uuid', 'name_label', 'power_state', 'is_a_template', 'is_default_template', 'is_a_snapshot', 'snapshot_of', 'snapshots', 'parent', 'VBDs', 'VIFs', 'memory_static_max', 'VCPUs_max', 'other_config', 'version', 'generation_id', 'HVM_boot_params', 'platform', 'blocked_operations', 'allowed_operations', 'current_operations', 'tags', 'appliance', 'metrics', 'guest_metrics', 'domid']) {
      expect(rec, f).toHaveProperty(f);
    }
    expect(rec.memory_static_max).toMatch(/^\d+$/);
    expect(typeof rec.HVM_shadow_multiplier).toBe('number');
    // a bare array, without the Status envelope (api_server.ml)
    const listed = await postXml(sim.url, '<?xml version="1.0"?><methodCall><methodName>system.listMethods</methodName><params/></methodCall>');
    expect(listed.text).toMatch(/^<\?xml version="1.0"\?><methodResponse><params><param><value><array><data><value>/);
    const methods = parseMethodResponse(listed.text).value;
    expect(methods).toEqual(expect.arrayContaining(['VDI.create', 'VM.get_all_records_where', 'event.from']));
    expect((methods as string[]).filter((m) => m.startsWith('Async.'))).toEqual([]); // XAPI lists sync names only
  });
});
