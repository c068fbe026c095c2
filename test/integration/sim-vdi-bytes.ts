/**
 * Disk content over the wire for simulator tests: write a VDI with PUT /import_raw_vdi, read
 * it back with GET /export_raw_vdi, and a recognisable byte pattern to write.
 */
import { expect } from 'vitest';
import type { SimHandle } from '../../src/sim/server.js';
import { rawRequest } from './sim-helpers.js';

export interface VdiBytes {
  put(vdi: string, data: Buffer): Promise<void>;
  content(vdi: string): Promise<Buffer>;
}

/** Raw transfers for `session` on `sim` (started with the transfer routes). */
export function vdiBytes(sim: () => SimHandle, session: () => string): VdiBytes {
  const uuidOf = (vdi: string): string => sim().db.getField('VDI', vdi, 'uuid');
  return {
    async put(vdi, data) {
      const res = await rawRequest(sim().url, { method: 'PUT', path: `/import_raw_vdi?session_id=${session()}&vdi=${uuidOf(vdi)}`, body: data });
      expect(res.status).toBe(200);
    },
    async content(vdi) {
      const res = await rawRequest(sim().url, { method: 'GET', path: `/export_raw_vdi?session_id=${session()}&vdi=${uuidOf(vdi)}` });
      expect(res.status).toBe(200);
      return res.body;
    },
  };
}

/** `size` bytes, a distinct non-zero word every 512 bytes (different for each seed). */
export function pattern(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i += 512) b.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
  return b;
}
