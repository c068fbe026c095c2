import { describe, expect, it } from 'vitest';
import { NetworkClaims } from '../../src/dr/network-claims.js';
import { forEachConcurrently } from '../../src/dr/work-pool.js';

/** A promise the test settles by hand. */
function gate() {
  let open!: () => void;
  let fail!: (e: Error) => void;
  const p = new Promise<void>((res, rej) => ((open = res), (fail = rej)));
  return { p, open, fail };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('NetworkClaims', () => {
  const existing = [{ name: 'Pool-wide network', bridge: 'xenbr0' }];

  it('lets imports on known or different networks run side by side', async () => {
    const claims = new NetworkClaims(existing);
    const running: string[] = [];
    const a = gate();
    const b = gate();
    const pa = claims.run([{ name: 'Pool-wide network', bridge: 'xenbr0' }], async () => (running.push('a'), a.p));
    const pb = claims.run([{ name: 'DMZ', bridge: 'xenbr9' }], async () => (running.push('b'), b.p));
    await tick();
    expect(running).toEqual(['a', 'b']);
    a.open();
    b.open();
    await Promise.all([pa, pb]);
  });

  it('makes a second import on a network being created wait for the first, by name or by bridge', async () => {
    const claims = new NetworkClaims(existing);
    const order: string[] = [];
    const first = gate();
    const p1 = claims.run([{ name: 'DMZ', bridge: 'xenbr9' }], async () => (order.push('first'), first.p));
    const p2 = claims.run([{ name: 'DMZ', bridge: 'other' }], async () => order.push('same name'));
    const p3 = claims.run([{ name: 'Other', bridge: 'xenbr9' }], async () => order.push('same bridge'));
    await tick();
    expect(order).toEqual(['first']);
    first.open();
    await Promise.all([p1, p2, p3]);
    expect(order.slice(1).sort()).toEqual(['same bridge', 'same name']);
  });

  it('after the creator failed, a waiting import becomes the creator', async () => {
    const claims = new NetworkClaims([]);
    const order: string[] = [];
    const first = gate();
    const second = gate();
    const p1 = claims.run([{ name: 'DMZ', bridge: 'b' }], async () => (order.push('first'), first.p)).catch((e: Error) => e.message);
    const p2 = claims.run([{ name: 'DMZ', bridge: 'b' }], async () => (order.push('second'), second.p));
    const p3 = claims.run([{ name: 'DMZ', bridge: 'b' }], async () => order.push('third'));
    await tick();
    first.fail(new Error('IMPORT_ERROR'));
    expect(await p1).toBe('IMPORT_ERROR');
    await tick();
    expect(order).toEqual(['first', 'second']); // the third waits for the new creator
    second.open();
    await Promise.all([p2, p3]);
    expect(order).toEqual(['first', 'second', 'third']);
  });
});

describe('forEachConcurrently', () => {
  it('runs at most N at a time, every item once', async () => {
    let now = 0;
    let peak = 0;
    const seen: number[] = [];
    await forEachConcurrently([...Array(20).keys()], 3, async (x) => {
      peak = Math.max(peak, ++now);
      await tick();
      seen.push(x);
      now--;
    });
    expect(peak).toBe(3);
    expect(seen.sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
  });

  it('after a failure starts nothing new and waits for the started items before throwing', async () => {
    const started: number[] = [];
    let finished = 0;
    const slow = gate();
    const p = forEachConcurrently([0, 1, 2, 3, 4], 2, async (x) => {
      started.push(x);
      if (x === 0) throw new Error('boom');
      await slow.p;
      finished++;
    });
    let settled = false;
    void p.catch(() => (settled = true));
    await tick();
    expect(started).toEqual([0, 1]);
    expect(settled).toBe(false); // item 1 still runs
    slow.open();
    await expect(p).rejects.toThrow('boom');
    expect(finished).toBe(1);
    expect(started).toEqual([0, 1]);
  });
});
