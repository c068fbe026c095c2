import { describe, expect, it } from 'vitest';
import { stageStream } from '../../src/dr/volume/staging.js';

async function* chunks(sizes: number[], state: { left?: boolean } = {}) {
  let v = 0;
  try {
    for (const n of sizes) yield Buffer.from(Array.from({ length: n }, () => v++ & 0xff));
  } finally {
    state.left = true;
  }
}

describe('stageStream', () => {
  it('hands on full buffers in order, then the rest, with the bytes unchanged', async () => {
    const sizes = [1, 7, 16, 3, 40, 0, 5];
    const total = sizes.reduce((a, b) => a + b, 0);
    const seen: Array<{ bytes: Buffer; last: boolean }> = [];
    const received = await stageStream(chunks(sizes), Buffer.alloc(16), async (filled, last) => {
      seen.push({ bytes: Buffer.from(filled), last }); // the buffer is reused after this
    });
    expect(received).toBe(total);
    expect(seen.map((s) => [s.bytes.length, s.last])).toEqual([[16, false], [16, false], [16, false], [16, false], [8, true]]);
    expect(Buffer.concat(seen.map((s) => s.bytes)).equals(Buffer.from(Array.from({ length: total }, (_, i) => i & 0xff)))).toBe(true);
  });

  it('stops copying once no more is wanted: counts the rest, or leaves the stream early', async () => {
    for (const leaveEarly of [false, true]) {
      let taken = 0;
      const state: { left?: boolean } = {};
      const received = await stageStream(chunks([10, 10, 10, 10], state), Buffer.alloc(8), async (f) => void (taken += f.length), { wanted: () => taken < 16, leaveEarly });
      expect(taken).toBe(16);
      expect(received).toBe(leaveEarly ? 20 : 40);
      expect(state.left).toBe(true);
    }
  });
});
