/**
 * Fuzzing what comes over the wire: XML-RPC responses and task results parsed by the
 * client (npm xmlrpc behind our safe deserializer), method calls parsed by the simulator's
 * own codec. Valid documents, made by the other side's serializer, are mutated by a seeded
 * PRNG (see mutate.ts); every case must return or throw an Error within its time bound.
 */
import { describe, expect, it } from 'vitest';
import { parseMethodCall, serializeFailure, serializeSuccess, structOf, type XmlRpcValue } from '../../src/sim/codec.js';
import { decodeValueXml, parseMethodResponse, serializeMethodCall } from '../../src/xenapi/index.js';
import { BOUND_MS, bounded, cases, settled } from './mutate.js';

describe('the wire', () => {
  const rich: XmlRpcValue = structOf([
    ['Status', 'Success'],
    [
      'Value',
      structOf([
        ['OpaqueRef:1', structOf([['uuid', '8d1c2f3e-0000-4000-8000-00000000a001'], ['name_label', 'web <01> & "x"'], ['VBDs', ['OpaqueRef:2', 'OpaqueRef:3']], ['memory', '4294967296'], ['other_config', structOf([['k', 'v']])], ['is_a_template', false], ['VCPUs', 2n], ['progress', 0.5]])],
      ]),
    ],
  ]);

  it('client: XML-RPC responses never hang or escape', async () => {
    const seeds = [Buffer.from(serializeSuccess(rich)), Buffer.from(serializeFailure(['SESSION_INVALID', 'OpaqueRef:x']))];
    expect(await parseMethodResponse(seeds[0]!)).toMatchObject({ Status: 'Success' });
    for (const { i, input } of cases(seeds)) {
      settled(await bounded(() => parseMethodResponse(input), BOUND_MS), `response case ${i}`);
    }
  });

  it('client: task results never hang or escape', async () => {
    const seeds = ['<value><array><data><value>OpaqueRef:a</value><value>OpaqueRef:b</value></data></array></value>', '<value>OpaqueRef:5c1f</value>', '<value></value>'].map((t) => Buffer.from(t));
    expect(await decodeValueXml(seeds[0]!.toString())).toEqual(['OpaqueRef:a', 'OpaqueRef:b']);
    for (const { i, input } of cases(seeds)) {
      settled(await bounded(() => decodeValueXml(input.toString('utf8')), BOUND_MS), `task result case ${i}`);
    }
  });

  it('simulator: method calls never hang or escape', async () => {
    const seeds = [
      Buffer.from(serializeMethodCall('VDI.create', ['OpaqueRef:s', { name_label: 'Pool Metadata Backup', virtual_size: '1073741824', sharable: false, other_config: { a: 'b' }, tags: [] }])),
      Buffer.from(serializeMethodCall('session.login_with_password', ['root', 'x', '1.0', 'xsconsole-dr'])),
    ];
    expect(parseMethodCall(seeds[0]!.toString()).methodName).toBe('VDI.create');
    for (const { i, input } of cases(seeds)) {
      settled(await bounded(() => parseMethodCall(input.toString('utf8')), BOUND_MS), `method call case ${i}`);
    }
  });
});

