/**
 * Pulls exact byte counts out of a request body (tar headers, ova.xml, chunk frames)
 * while keeping at most ~1 MiB buffered: the source is paused until the consumer asks.
 * A source that errors or closes early makes reads return short / throw, so parsers can
 * report a premature end instead of hanging.
 */
import type { Readable } from 'node:stream';

const HIGH_WATER = 1024 * 1024;

export class ByteReader {
  private buffered: Buffer[] = [];
  private bufferedLen = 0;
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly src: Readable) {
    src.on('data', (c: Buffer) => {
      this.buffered.push(c);
      this.bufferedLen += c.length;
      // Backpressure: stop the source until the consumer catches up.
      if (this.bufferedLen > HIGH_WATER) src.pause();
      this.poke();
    });
    src.on('end', () => {
      this.ended = true;
      this.poke();
    });
    src.on('error', (e: Error) => {
      this.error = e;
      this.poke();
    });
    src.on('close', () => {
      // A destroyed source without 'end' (connection cut) is an early end.
      this.ended = true;
      this.poke();
    });
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private async waitForData(): Promise<void> {
    if (this.error) throw this.error;
    if (this.ended) return;
    this.src.resume();
    await new Promise<void>((r) => (this.wake = r));
  }

  /** Exactly n bytes, or fewer when the stream ends first; throws when it failed first. */
  async read(n: number): Promise<Buffer> {
    while (this.bufferedLen < n && !this.ended) {
      if (this.error) throw this.error;
      await this.waitForData();
    }
    if (this.error && this.bufferedLen < n) throw this.error;
    const take = Math.min(n, this.bufferedLen);
    const parts: Buffer[] = [];
    let got = 0;
    while (got < take) {
      const c = this.buffered[0] as Buffer;
      const need = take - got;
      if (c.length <= need) {
        parts.push(c);
        this.buffered.shift();
        got += c.length;
      } else {
        parts.push(c.subarray(0, need));
        this.buffered[0] = c.subarray(need);
        got += need;
      }
    }
    this.bufferedLen -= take;
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, take);
  }

  /** True once the source ended and everything buffered was read. */
  get atEnd(): boolean {
    return this.ended && this.bufferedLen === 0;
  }

  /** Reads and discards everything left (XAPI drains the body after ova.xml). */
  async drain(): Promise<void> {
    this.buffered = [];
    this.bufferedLen = 0;
    while (!this.ended) {
      await this.waitForData();
      this.buffered = [];
      this.bufferedLen = 0;
    }
    if (this.error) throw this.error;
  }
}

