/**
 * GET /export_raw_vdi and PUT /import_raw_vdi against a running simulator: exact byte
 * counts, a VHD export read back by a reader written from the specification, exactly the
 * written ranges changing (plain and the 12-byte frame protocol), the
 * image file staying sparse and at virtual_size, and the refusals XAPI makes.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { structOf } from '../../src/sim/codec.js';
import type { Ref } from '../../src/sim/db.js';
import { vdiFilePath } from '../../src/sim/storage.js';
import { httpRequest, newTask, query, startDemoSim, taskDone, taskRecord, type DemoSim } from './sim-handlers-fixture.js';

const MiB = 1024 * 1024;
let s: DemoSim;

beforeAll(async () => {
  s = await startDemoSim({ vms: 3, seed: 21 });
});
afterAll(async () => {
  await s?.close();
});

async function newVdi(size: number, label = 'raw test'): Promise<{ ref: Ref; uuid: string; path: string }> {
  const ref = (await s.call('VDI.create', structOf([
    ['name_label', label],
    ['name_description', ''],
    ['SR', s.demo.srs.nfs],
    ['virtual_size', String(size)],
    ['type', 'user'],
    ['sharable', false],
    ['read_only', false],
    ['other_config', structOf([])],
  ]))) as string;
  const uuid = s.sim.db.getField('VDI', ref, 'uuid');
  return { ref, uuid, path: vdiFilePath(s.sim.db, s.sim.stateDir, ref) };
}

async function writeAt(path: string, offset: number, data: Buffer): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.write(data, 0, data.length, offset);
  } finally {
    await fh.close();
  }
}

function frame(offset: number, data: Buffer): Buffer {
  const h = Buffer.alloc(12);
  h.writeBigUInt64LE(BigInt(offset), 0);
  h.writeUInt32LE(data.length, 8);
  return Buffer.concat([h, data]);
}

/** VHD checksum: one's complement of the byte sum, the checksum field read as zero. */
function vhdChecksum(b: Buffer, at: number): number {
  let sum = 0;
  for (let i = 0; i < b.length; i++) if (i < at || i >= at + 4) sum += b[i]!;
  return ~sum >>> 0;
}

/**
 * A reader written from Microsoft's VHD specification (not from the simulator's writer):
 * checks both footers, the dynamic header and the BAT, and returns the disk's content.
 */
function readVhd(file: Buffer): { size: number; blockSize: number; bat: number[]; content: Buffer } {
  const foot = file.subarray(file.length - 512);
  expect(file.subarray(0, 512).equals(foot)).toBe(true);
  expect(foot.toString('latin1', 0, 8)).toBe('conectix');
  expect(foot.readUInt32BE(12)).toBe(0x00010000);
  expect(foot.readUInt32BE(60)).toBe(3);
  expect(foot.readUInt32BE(64)).toBe(vhdChecksum(foot, 64));
  const size = Number(foot.readBigUInt64BE(48));
  expect(Number(foot.readBigUInt64BE(40))).toBe(size);
  // Geometry covers no more than the disk (the specification's CHS algorithm).
  const chs = foot.readUInt16BE(56) * foot.readUInt8(58) * foot.readUInt8(59) * 512;
  expect(chs).toBeGreaterThan(0);
  expect(chs).toBeLessThanOrEqual(size);
  const hdrAt = Number(foot.readBigUInt64BE(16));
  const hdr = file.subarray(hdrAt, hdrAt + 1024);
  expect(hdr.toString('latin1', 0, 8)).toBe('cxsparse');
  expect(hdr.readBigUInt64BE(8)).toBe(0xffffffffffffffffn);
  expect(hdr.readUInt32BE(36)).toBe(vhdChecksum(hdr, 36));
  const tableAt = Number(hdr.readBigUInt64BE(16));
  const entries = hdr.readUInt32BE(28);
  const blockSize = hdr.readUInt32BE(32);
  expect(entries).toBe(Math.ceil(size / blockSize));
  const bitmapBytes = Math.ceil(blockSize / 512 / 8 / 512) * 512;
  const bat: number[] = [];
  const content = Buffer.alloc(size);
  for (let i = 0; i < entries; i++) {
    const sector = file.readUInt32BE(tableAt + i * 4);
    bat.push(sector);
    if (sector === 0xffffffff) continue;
    const at = sector * 512;
    expect(at + bitmapBytes + blockSize).toBeLessThanOrEqual(file.length - 512);
    const bitmap = file.subarray(at, at + bitmapBytes);
    const data = file.subarray(at + bitmapBytes, at + bitmapBytes + blockSize);
    for (let sec = 0; sec < blockSize / 512; sec++) {
      const off = i * blockSize + sec * 512;
      if (off >= size) break;
      // A sector whose bitmap bit is clear reads as zeros.
      if (((bitmap[sec >> 3]! >> (7 - (sec & 7))) & 1) === 1) data.copy(content, off, sec * 512, Math.min(sec * 512 + 512, sec * 512 + size - off));
    }
  }
  return { size, blockSize, bat, content };
}

describe('GET /export_raw_vdi', () => {
  test('streams exactly virtual_size bytes of the image, no Content-Length, ends by closing', async () => {
    const size = 3 * MiB + 5;
    const vdi = await newVdi(size);
    const data = randomBytes(70000);
    await writeAt(vdi.path, 2 * MiB - 100, data);
    const task = await newTask(s, 'export raw');
    const res = await httpRequest('GET', `${s.sim.url}/export_raw_vdi?${query(s, task, { vdi: vdi.uuid, format: 'RAW' })}`);
    expect(res.status).toBe(200);
    expect(res.aborted).toBe(false);
    expect(res.rawHeaderNames).not.toContain('content-length');
    expect(res.rawHeaderNames).not.toContain('transfer-encoding');
    expect(res.headers['content-type']).toBe('application/octet-stream');
    expect(res.headers['content-disposition']).toBe(`attachment; filename="${vdi.uuid}.raw"`);
    expect(res.headers['task-id']).toBe(task);
    expect(res.body.length).toBe(size);
    expect(res.body.equals(await readFile(vdi.path))).toBe(true);
    expect(res.body.subarray(2 * MiB - 100, 2 * MiB - 100 + data.length).equals(data)).toBe(true);
    const t = await taskRecord(s, task);
    expect(t.status).toBe('success');
    expect(t.result).toBe('');

    // By ref as well.
    const task2 = await newTask(s, 'export raw');
    const byRef = await httpRequest('GET', `${s.sim.url}/export_raw_vdi?${query(s, task2, { vdi: vdi.ref })}`);
    expect(byRef.body.equals(res.body)).toBe(true);
  });

  test('an unknown uuid: UUID_INVALID; an unsupported format: HTTP/1.0 404', async () => {
    const t1 = await newTask(s, 'x');
    const bad = await httpRequest('GET', `${s.sim.url}/export_raw_vdi?${query(s, t1, { vdi: '12345678-1234-4234-8234-123456789abc' })}`);
    expect(bad.status).toBe(500);
    expect((await taskRecord(s, t1)).error_info).toEqual(['UUID_INVALID', 'VDI', '12345678-1234-4234-8234-123456789abc']);
    const vdi = await newVdi(MiB);
    const t2 = await newTask(s, 'x');
    const vmdk = await httpRequest('GET', `${s.sim.url}/export_raw_vdi?${query(s, t2, { vdi: vdi.uuid, format: 'vmdk' })}`);
    expect(vmdk.status).toBe(404);
    expect(vmdk.httpVersion).toBe('1.0');
    expect((await taskRecord(s, t2)).error_info).toEqual(['INTERNAL_ERROR', 'Unknown format vmdk']);
  });

  test('format=vhd: a dynamic VHD (checked against the specification) holding the same content, only non-zero blocks allocated', async () => {
    const size = 5 * MiB + 3 * 512;
    const vdi = await newVdi(size, 'vhd test');
    const first = randomBytes(1000);
    const last = randomBytes(700);
    await writeAt(vdi.path, 10, first);
    await writeAt(vdi.path, size - 700, last);
    const task = await newTask(s, 'export vhd');
    const res = await httpRequest('GET', `${s.sim.url}/export_raw_vdi?${query(s, task, { vdi: vdi.uuid, format: 'vhd' })}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/vhd');
    expect(res.headers['content-disposition']).toBe(`attachment; filename="${vdi.uuid}.vhd"`);
    expect((await taskRecord(s, task)).status).toBe('success');

    const vhd = readVhd(res.body);
    expect(vhd.blockSize).toBe(2 * MiB);
    expect(vhd.size).toBe(size);
    // Block 0 and block 2 hold data, block 1 is all zeros and stays unallocated.
    expect(vhd.bat).toEqual([expect.any(Number), 0xffffffff, expect.any(Number)]);
    const raw = Buffer.alloc(size);
    raw.set(first, 10);
    raw.set(last, size - 700);
    expect(vhd.content.equals(raw)).toBe(true);
  });

  test('a disk plugged read-write into a running VM: VDI_IN_USE', async () => {
    const running = s.demo.vms.map((v) => s.sim.db.get('VM', v)).find((v) => v.power_state === 'Running');
    expect(running).toBeDefined();
    const vbd = running!.VBDs.map((x) => s.sim.db.get('VBD', x)).find((x) => x.type === 'Disk' && x.currently_attached)!;
    const task = await newTask(s, 'x');
    const res = await httpRequest('GET', `${s.sim.url}/export_raw_vdi?${query(s, task, { vdi: vbd.VDI })}`);
    expect(res.status).toBe(500);
    expect((await taskRecord(s, task)).error_info).toEqual(['VDI_IN_USE', vbd.VDI, 'export']);
  });

  test('a connection cut mid-stream (injected) fails the task', async () => {
    const vdi = await newVdi(4 * MiB);
    const id = s.sim.faults.add({ route: '/export_raw_vdi', dropAfterBytes: MiB + 17, times: 1 });
    try {
      const task = await newTask(s, 'x');
      const res = await httpRequest('GET', `${s.sim.url}/export_raw_vdi?${query(s, task, { vdi: vdi.uuid })}`);
      // No Content-Length: to the client a cut looks like the end; only the size and the
      // task tell (which is why clients must check both).
      expect(res.body.length).toBe(MiB + 17);
      await taskDone(s, task);
      expect((await taskRecord(s, task)).status).toBe('failure');
    } finally {
      s.sim.faults.remove(id);
    }
  });
});

describe('PUT /import_raw_vdi', () => {
  test('with Content-Length: bytes [0, n) replaced, the rest unchanged, size kept, result the VDI ref', async () => {
    const size = 4 * MiB;
    const vdi = await newVdi(size);
    const tail = randomBytes(4096);
    await writeAt(vdi.path, 3 * MiB, tail);
    const before = await readFile(vdi.path);
    const upload = randomBytes(MiB + 333);
    const task = await newTask(s, 'import raw');
    const res = await httpRequest('PUT', `${s.sim.url}/import_raw_vdi?${query(s, task, { vdi: vdi.uuid })}`, { body: upload });
    expect(res.status).toBe(200);
    expect(res.headers['task-id']).toBe(task);
    await taskDone(s, task);
    const t = await taskRecord(s, task);
    expect(t.status).toBe('success');
    expect(t.result).toBe(`<value>${vdi.ref}</value>`);
    const after = await readFile(vdi.path);
    expect(after.length).toBe(size);
    expect(after.subarray(0, upload.length).equals(upload)).toBe(true);
    expect(after.subarray(upload.length).equals(before.subarray(upload.length))).toBe(true);
  });

  test('zeros over holes are not written: the image stays sparse', async () => {
    const vdi = await newVdi(8 * MiB);
    const upload = Buffer.alloc(6 * MiB);
    randomBytes(4096).copy(upload, 5 * MiB);
    const task = await newTask(s, 'import raw');
    await httpRequest('PUT', `${s.sim.url}/import_raw_vdi?${query(s, task, { vdi: vdi.ref })}`, { body: upload });
    await taskDone(s, task);
    expect((await taskRecord(s, task)).status).toBe('success');
    const st = await stat(vdi.path);
    expect(st.size).toBe(8 * MiB);
    expect(st.blocks * 512).toBeLessThan(MiB);
    expect((await readFile(vdi.path)).subarray(0, 6 * MiB).equals(upload)).toBe(true);
    // Zeros over data are written (the data is really cleared).
    const t2 = await newTask(s, 'import raw');
    await httpRequest('PUT', `${s.sim.url}/import_raw_vdi?${query(s, t2, { vdi: vdi.ref })}`, { body: Buffer.alloc(6 * MiB) });
    await taskDone(s, t2);
    expect((await readFile(vdi.path)).every((b) => b === 0)).toBe(true);
  });

  test('chunked frames: exactly the framed ranges change', async () => {
    const size = 3 * MiB;
    const vdi = await newVdi(size);
    const base = randomBytes(size);
    await writeAt(vdi.path, 0, base);
    const a = randomBytes(512);
    const b = randomBytes(1.5 * MiB);
    const body = Buffer.concat([frame(1024, a), frame(MiB + 7 * 512, b), Buffer.alloc(12)]);
    const task = await newTask(s, 'import raw');
    const res = await httpRequest('PUT', `${s.sim.url}/import_raw_vdi?${query(s, task, { vdi: vdi.uuid, chunked: '' })}`, { body });
    expect(res.status).toBe(200);
    await taskDone(s, task);
    const t = await taskRecord(s, task);
    expect(t.status).toBe('success');
    expect(t.result).toBe(`<value>${vdi.ref}</value>`);
    const expected = Buffer.from(base);
    a.copy(expected, 1024);
    b.copy(expected, MiB + 7 * 512);
    const after = await readFile(vdi.path);
    expect(after.length).toBe(size);
    expect(after.equals(expected)).toBe(true);
  });

  test('a frame that is not whole 512-byte sectors fails the task as vhd-tool does, after the frames before it', async () => {
    const vdi = await newVdi(MiB);
    const first = randomBytes(512);
    for (const bad of [frame(1000, randomBytes(512)), frame(1024, randomBytes(10))]) {
      const t = await newTask(s, 'x');
      await httpRequest('PUT', `${s.sim.url}/import_raw_vdi?${query(s, t, { vdi: vdi.uuid, chunked: 'true' })}`, { body: Buffer.concat([frame(0, first), bad, Buffer.alloc(12)]) });
      await taskDone(s, t);
      expect((await taskRecord(s, t)).error_info).toEqual(['VDI_IO_ERROR', 'Device I/O errors']);
    }
    expect((await readFile(vdi.path)).subarray(0, 512).equals(first)).toBe(true);
  });

  test('a frame past the end of the disk, or frames without the terminator, fail the task', async () => {
    const vdi = await newVdi(MiB);
    const t1 = await newTask(s, 'x');
    await httpRequest('PUT', `${s.sim.url}/import_raw_vdi?${query(s, t1, { vdi: vdi.uuid, chunked: 'true' })}`, { body: Buffer.concat([frame(MiB - 512, randomBytes(1024)), Buffer.alloc(12)]) });
    await taskDone(s, t1);
    expect((await taskRecord(s, t1)).error_info[0]).toBe('VDI_IO_ERROR');
    const t2 = await newTask(s, 'x');
    await httpRequest('PUT', `${s.sim.url}/import_raw_vdi?${query(s, t2, { vdi: vdi.uuid, chunked: 'true' })}`, { body: frame(0, randomBytes(8)) });
    await taskDone(s, t2);
    expect((await taskRecord(s, t2)).error_info[0]).toBe('VDI_IO_ERROR');
  });

  test('HTTP Transfer-Encoding: chunked is refused with HTTP/1.0 404', async () => {
    const vdi = await newVdi(MiB);
    const task = await newTask(s, 'x');
    const body = new PassThrough();
    const pending = httpRequest('PUT', `${s.sim.url}/import_raw_vdi?${query(s, task, { vdi: vdi.uuid })}`, { body, headers: { 'transfer-encoding': 'chunked' } });
    body.end(randomBytes(1000));
    const res = await pending;
    expect(res.status).toBe(404);
    expect(res.httpVersion).toBe('1.0');
    expect((await taskRecord(s, task)).error_info).toEqual(['INTERNAL_ERROR', 'Cannot handle encoding: chunked']);
  });

  test('a connection cut mid-body (injected) leaves the task failed', async () => {
    const vdi = await newVdi(4 * MiB);
    const id = s.sim.faults.add({ route: '/import_raw_vdi', dropAfterBytes: MiB, times: 1 });
    try {
      const task = await newTask(s, 'x');
      await httpRequest('PUT', `${s.sim.url}/import_raw_vdi?${query(s, task, { vdi: vdi.uuid })}`, { body: randomBytes(3 * MiB) }).catch(() => undefined);
      await taskDone(s, task);
      const t = await taskRecord(s, task);
      expect(t.status).toBe('failure');
      expect(t.error_info[0]).toBe('VDI_IO_ERROR');
    } finally {
      s.sim.faults.remove(id);
    }
  });

  test('sr_id instead of vdi: a new "Imported VDI" sized by Content-Length', async () => {
    const upload = randomBytes(MiB + 1);
    const task = await newTask(s, 'x');
    await httpRequest('PUT', `${s.sim.url}/import_raw_vdi?${query(s, task, { sr_id: s.demo.srs.nfs })}`, { body: upload });
    await taskDone(s, task);
    const t = await taskRecord(s, task);
    expect(t.status).toBe('success');
    const ref = /^<value>(OpaqueRef:[^<]+)<\/value>$/.exec(t.result)?.[1];
    expect(ref).toBeDefined();
    const rec = s.sim.db.get('VDI', ref!);
    expect(rec.name_label).toBe('Imported VDI');
    expect(rec.virtual_size).toBe(upload.length);
    expect(rec.SR).toBe(s.demo.srs.nfs);
  });

  test('neither vdi nor SR: VDI_MISSING and 400; no Content-Length: 400', async () => {
    const t1 = await newTask(s, 'x');
    const res = await httpRequest('PUT', `${s.sim.url}/import_raw_vdi?${query(s, t1)}`, { body: Buffer.alloc(10) });
    expect(res.status).toBe(400);
    expect((await taskRecord(s, t1)).error_info[0]).toBe('VDI_MISSING');
    const vdi = await newVdi(MiB);
    const t2 = await newTask(s, 'x');
    const code = await new Promise<number>((resolve, reject) => {
      // A raw HTTP/1.0 PUT with no Content-Length (node's client would add one).
      const url = new URL(`${s.sim.url}/import_raw_vdi?${query(s, t2, { vdi: vdi.uuid })}`);
      const sock = connect(Number(url.port), url.hostname, () => {
        sock.write(`PUT ${url.pathname}${url.search} HTTP/1.0\r\nHost: ${url.host}\r\n\r\n`);
      });
      let head = '';
      sock.on('data', (d: Buffer) => (head += d.toString('latin1')));
      sock.on('close', () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0)));
      sock.on('error', reject);
    });
    expect(code).toBe(400);
    expect((await taskRecord(s, t2)).error_info[0]).toBe('INTERNAL_ERROR');
  });
});
