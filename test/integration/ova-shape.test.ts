/**
 * ova.xml read as XAPI's import reads it (src/dr/ova-header.ts): what XAPI accepts is
 * accepted (an XML declaration, indentation, missing optional fields, integers as strings,
 * member names in any case), and what it would refuse is named, field by field, before
 * anything is sent. Seeds are genuine exports of the simulated pool.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractOvaXml, parseOvaXml, readSendableVmmeta, type VmmetaSummary } from '../../src/dr/vmmeta.js';
import { exportMetadata, type Ref } from '../../src/xenapi/index.js';
import { startTestPool, type TestPool } from '../helpers/pool.js';
import { tarOf } from '../helpers/tar.js';

let pool: TestPool;
let ova: string;
let genuine: VmmetaSummary;

beforeAll(async () => {
  pool = await startTestPool({ vms: 2 });
  const vm = pool.sim.db.where('VM', (v) => !v.is_control_domain && !v.is_a_template && !v.is_a_snapshot)[0]!;
  ova = await extractOvaXml(await exportMetadata(pool.session, { vmRef: vm.ref as Ref, exportSnapshots: true }));
  genuine = await parseOvaXml(ova);
});
afterAll(async () => {
  await pool?.close();
});

/** ova.xml with one member's value replaced (the first member of that name). */
function withMember(xml: string, name: string, value: string | null): string {
  const re = new RegExp(`<member><name>${name}</name><value>(?:<[a-zA-Z.0-9]+>[^<]*</[a-zA-Z.0-9]+>|<array><data>(?:<value>[^<]*</value>)*</data></array>|[^<]*)</value></member>`);
  expect(re.test(xml), `member ${name} is in the seed`).toBe(true);
  return xml.replace(re, value === null ? '' : `<member><name>${name}</name><value>${value}</value></member>`);
}

/** The same document pretty-printed, one element per line (as XenServer 5.5 wrote them). */
function indented(xml: string): string {
  // Scalars stay on their line: text inside <value> is the value, white space included.
  const scalars: string[] = [];
  const held = xml.replace(/<value>([^<]*)<\/value>|<value>(<(?:int|i4|i8|double|boolean|string|base64|dateTime\.iso8601)>[^<]*<\/[a-zA-Z0-9.]+>)<\/value>/g, (m) => `\u0000${scalars.push(m) - 1}\u0000`);
  let depth = 0;
  const pretty = held.replace(/(<\/?)(value|struct|member|array|data)>|\u0000\d+\u0000/g, (m: string, open?: string, tag?: string) => {
    if (!tag) return `\n${'  '.repeat(depth)}${m}`;
    if (open === '</') depth--;
    const line = `\n${'  '.repeat(depth)}${open}${tag}>`;
    if (open === '<') depth++;
    return line;
  });
  return pretty.replace(/\u0000(\d+)\u0000/g, (_m, i: string) => scalars[Number(i)]!);
}

describe('what XAPI accepts is accepted', () => {
  it('a genuine export: no problems, the VM and its disks', () => {
    expect(genuine.shape).toEqual({ problems: [], total: 0 });
    expect(genuine.vms.filter((v) => !v.isSnapshot)).toHaveLength(1);
    expect(genuine.version.xapiMajor).toBeGreaterThan(0);
  });

  it('an XML declaration in front (refused as "not XML-RPC" before)', async () => {
    for (const decl of ['<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-8"?>\n', '<?xml version=\'1.0\' encoding=\'utf-8\' standalone="yes"?>\r\n']) {
      expect(await parseOvaXml(`${decl}${ova}`), decl).toEqual(genuine);
    }
  });

  it('an indented export, white space between every element', async () => {
    const pretty = indented(ova);
    expect(pretty.split('\n').length).toBeGreaterThan(100);
    expect(await parseOvaXml(`<?xml version="1.0"?>\n${pretty}\n`)).toEqual(genuine);
  });

  it('optional fields missing, integers as <int> or OCaml integer strings, enums and member names in another case', async () => {
    let xml = withMember(ova, 'export_vsn', null);
    xml = withMember(xml, 'xapi_major', '<int>25</int>');
    xml = withMember(xml, 'xapi_minor', '0x1b');
    xml = xml.replace('<member><name>objects</name>', '<member><name>Objects</name>').replace(/<name>class<\/name>/g, '<name>CLASS</name>');
    xml = xml.replace(/<name>power_state<\/name><value>([A-Za-z]+)<\/value>/, (_m, s: string) => `<name>power_state</name><value>${s.toUpperCase()}</value>`);
    xml = xml.replace(/<name>type<\/name><value>Disk<\/value>/g, '<name>type</name><value>disk</value>');
    const r = await parseOvaXml(xml);
    expect(r.shape.total).toBe(0);
    expect(r.version).toMatchObject({ xapiMajor: 25, xapiMinor: 27, exportVsn: 0 });
    expect(r.vms.map((v) => v.powerState)).toEqual(genuine.vms.map((v) => v.powerState));
    expect(r.vms.flatMap((v) => v.disks.map((d) => d.vbdType))).toEqual(genuine.vms.flatMap((v) => v.disks.map((d) => d.vbdType)));
    // name_label, is_a_snapshot, VBDs, VIFs and power_state have datamodel defaults.
    const bare = withMember(withMember(xml, 'name_label', null), 'is_a_snapshot', null);
    expect((await parseOvaXml(bare)).shape.total).toBe(0);
  });
});

describe('what XAPI would refuse is named, and never sent', () => {
  const cases: Array<[string, (x: string) => string, RegExp]> = [
    ['no version header', (x) => x.replace(/<member><name>version<\/name><value><struct>.*?<\/struct><\/value><\/member>/, ''), /no version header/],
    ['version not a struct', (x) => x.replace(/<member><name>version<\/name><value><struct>.*?<\/struct><\/value><\/member>/, '<member><name>version</name><value>8.4</value></member>'), /version is a string, not the version struct/],
    ['xapi_major missing', (x) => withMember(x, 'xapi_major', null), /version\.xapi_major is missing/],
    ['xapi_major a double', (x) => withMember(x, 'xapi_major', '<double>25</double>'), /version\.xapi_major is a double; XAPI reads an integer/],
    ['xapi_minor not a number', (x) => withMember(x, 'xapi_minor', '27 '), /version\.xapi_minor is a string \("27 "\); XAPI reads an integer/],
    ['hostname an int', (x) => withMember(x, 'hostname', '<int>1</int>'), /version\.hostname is an int; XAPI reads a string/],
    ['build_number base64', (x) => withMember(x, 'build_number', '<base64>eA==</base64>'), /version\.build_number is a base64/],
    ['objects a struct', (x) => x.replace(/<member><name>objects<\/name><value><array><data>.*<\/data><\/array><\/value><\/member>/, '<member><name>objects</name><value><struct></struct></value></member>'), /objects is a struct; XAPI reads an array/],
    ['an object without class', (x) => x.replace(/<member><name>class<\/name><value>VM<\/value><\/member>/, ''), /objects\[\d+\]\.class is missing/],
    ['a VM snapshot that is a string', (x) => x.replace(/(<name>class<\/name><value>VM<\/value><\/member><member><name>id<\/name><value>[^<]*<\/value><\/member><member><name>snapshot<\/name><value>)<struct>.*?<\/struct>(<\/value><\/member><\/struct><\/value>)/, '$1nothing$2'), /\(VM\): its snapshot is a string; XAPI reads a VM record/],
    ['is_a_template as a string', (x) => withMember(x, 'is_a_template', 'false'), /\.is_a_template is a string; XAPI reads a <boolean>/],
    ['VM uuid missing', (x) => x.replace(/(<name>class<\/name><value>VM<\/value>.*?)<member><name>uuid<\/name><value>[^<]*<\/value><\/member>/, '$1'), /\(VM Ref:\d+\)\.uuid is missing/],
    ['VBDs not an array', (x) => withMember(x, 'VBDs', 'Ref:1'), /\.VBDs is a string; XAPI reads an array of references/],
    ['an unknown power state', (x) => x.replace(/<name>power_state<\/name><value>[A-Za-z]+<\/value>/, '<name>power_state</name><value>Flying</value>'), /power_state is "Flying"; XAPI knows only halted, paused, running, suspended/],
    ['a raw control character in a name', (x) => x.replace('<name>name_label</name><value>', '<name>name_label</name><value>\u0001'), /1 raw control character\(s\) that XML forbids/],
  ];
  for (const [what, change, expected] of cases) {
    it(what, async () => {
      const xml = change(ova);
      expect(xml).not.toBe(ova);
      const r = await parseOvaXml(xml);
      expect(r.shape.problems.join('\n')).toMatch(expected);
    });
  }

  it('a sendable read refuses the first problem with UNSAFE_BACKUP_FILE, naming how many more', async () => {
    const xml = withMember(withMember(ova, 'xapi_major', '<double>25</double>'), 'hostname', '<int>1</int>');
    const tar = await tarOf('ova.xml', xml);
    await expect(readSendableVmmeta(tar)).rejects.toMatchObject({
      code: 'UNSAFE_BACKUP_FILE',
      meaning: expect.stringMatching(/version\.hostname is an int; XAPI reads a string there \(and 1 more problem\(s\)\)/),
    });
  });
});
