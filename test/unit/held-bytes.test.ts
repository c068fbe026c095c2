/**
 * HeldBytes: concurrent work holds at most `limit` bytes at once; an item over the limit
 * runs alone; first come, first served; a waiter that is aborted leaves the queue.
 */
import { describe, expect, it } from 'vitest';
import { HeldBytes } from '../../src/dr/held-bytes.js';

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe('HeldBytes', () => {
  it('lets items in while they fit, and the next one once bytes are released', async () => {
    const h = new HeldBytes(16);
    const started: string[] = [];
    const a = gate();
    const b = gate();
    const ra = h.hold(10, async () => (started.push('a'), a.opened));
    const rb = h.hold(10, async () => (started.push('b'), b.opened));
    const rc = h.hold(4, async () => void started.push('c'));
    await Promise.resolve();
    // b does not fit beside a; c would, but waits its turn behind b.
    expect(started).toEqual(['a']);
    expect(h.held).toBe(10);
    a.open();
    await ra;
    // c finishes while b still holds its bytes: both were let in when a left.
    await rc;
    expect(started).toEqual(['a', 'b', 'c']);
    expect(h.held).toBe(10);
    b.open();
    await rb;
    expect(h.held).toBe(0);
  });

  it('runs an item larger than the limit alone', async () => {
    const h = new HeldBytes(16);
    const g = gate();
    const big = h.hold(100, () => g.opened);
    let small = false;
    const s = h.hold(1, async () => void (small = true));
    await Promise.resolve();
    expect(small).toBe(false);
    g.open();
    await Promise.all([big, s]);
    expect(small).toBe(true);
  });

  it('drops an aborted waiter and lets the others go', async () => {
    const h = new HeldBytes(16);
    const g = gate();
    const first = h.hold(16, () => g.opened);
    const ac = new AbortController();
    const waiting = h.hold(16, async () => 'never', ac.signal);
    const after = h.hold(1, async () => 'ran');
    ac.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    g.open();
    await first;
    expect(await after).toBe('ran');
    expect(h.held).toBe(0);
  });
});
