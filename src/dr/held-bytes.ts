/**
 * A bound on the bytes of untrusted files held in memory at once by work that runs side by
 * side (a restore imports 8 exports at a time). A stock export is kilobytes, so the bound
 * never slows a genuine restore; a crafted backup of many 16 MiB files is read a few at a
 * time instead of 8 × (file + its text + its parse) at once.
 */
import { throwIfAborted } from '../xenapi/index.js';

/**
 * Bytes of export files a restore holds at once: one file at the size limit (which costs
 * about ten times its size while read, decoded and checked), or hundreds of genuine ones.
 */
export const RESTORE_HELD_BYTES = 16 * 1024 * 1024;

export class HeldBytes {
  #held = 0;
  readonly #waiting: Array<{ bytes: number; go: () => void }> = [];

  constructor(readonly limit: number) {}

  get held(): number {
    return this.#held;
  }

  /** Runs `fn` once `bytes` fit beside what is held (alone when larger than the limit). */
  async hold<T>(bytes: number, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.#acquire(bytes, signal);
    try {
      return await fn();
    } finally {
      this.#held -= bytes;
      this.#wake();
    }
  }

  #fits(bytes: number): boolean {
    return this.#held === 0 || this.#held + bytes <= this.limit;
  }

  async #acquire(bytes: number, signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    // First come, first served: a large file is not passed over forever by small ones.
    if (this.#waiting.length === 0 && this.#fits(bytes)) {
      this.#held += bytes;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const entry = {
        bytes,
        go: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const i = this.#waiting.indexOf(entry);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(signal?.reason);
        this.#wake();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(entry);
    });
  }

  #wake(): void {
    while (this.#waiting.length > 0 && this.#fits(this.#waiting[0]!.bytes)) {
      const next = this.#waiting.shift()!;
      this.#held += next.bytes;
      next.go();
    }
  }
}
