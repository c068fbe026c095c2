/**
 * Files written behind the network: a VM export that has arrived is handed over and the
 * worker fetches the next one while the filesystem (one call at a time) catches up. At
 * most `maxBytes` wait to be written; past that, a new file waits for room, so a slow
 * disk slows the exports instead of filling memory.
 */
export class WriteBehind {
  private pendingBytes = 0;
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly maxBytes: number) {}

  /**
   * Waits for room, then starts `write` (holding `bytes` until it ends). Resolves once the
   * write has started; `write` reports its own outcome (it must not throw).
   */
  async add(bytes: number, write: () => Promise<void>): Promise<void> {
    while (this.pendingBytes > 0 && this.pendingBytes + bytes > this.maxBytes) await Promise.race(this.running);
    this.pendingBytes += bytes;
    const p: Promise<void> = write()
      .catch(() => undefined)
      .finally(() => {
        this.pendingBytes -= bytes;
        this.running.delete(p);
      });
    this.running.add(p);
  }

  /** Waits until every write handed over has ended. */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }
}
