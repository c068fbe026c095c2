/**
 * How many bytes of host answers are being held in memory at one moment (XML-RPC answers
 * being decoded, handler bodies read whole), across every call in flight.
 *
 * Each answer has its own size limit, but a backup runs up to 32 transfers and several bulk
 * reads at once, and a hostile host could make every one of them as large as its limit. So an
 * answer may hold more only while the total stays within the budget; otherwise it stops reading
 * its socket (TCP holds the host back) until others have finished. The answer that started
 * first is always let through, so the answers in flight always make progress: in memory at
 * once are at most the budget plus one answer's own limit.
 */

export class AnswerBudget {
  readonly limitBytes: number;
  #used = 0;
  /** Answers in progress, oldest first (a Set keeps insertion order). */
  readonly #shares = new Set<BudgetShare>();
  readonly #waiters = new Set<() => void>();

  constructor(limitBytes: number) {
    if (!(limitBytes > 0)) throw new RangeError('an answer budget needs a positive size');
    this.limitBytes = limitBytes;
  }

  /** Bytes held by the answers in progress. */
  get usedBytes(): number {
    return this.#used;
  }

  /** Answers that have stopped reading until bytes are freed. */
  get waitingAnswers(): number {
    return this.#waiters.size;
  }

  /** A share for one answer; release it when the answer is complete or failed. */
  open(): BudgetShare {
    const share = new BudgetShare(this);
    this.#shares.add(share);
    return share;
  }

  /** @internal */
  tryTake(share: BudgetShare, n: number): boolean {
    const oldest = this.#shares.values().next().value === share;
    if (!oldest && this.#used + n > this.limitBytes) return false;
    this.#used += n;
    return true;
  }

  /** @internal */
  release(share: BudgetShare, held: number): void {
    if (!this.#shares.delete(share)) return;
    this.#used -= held;
    // Everyone waiting tries again: bytes were freed, and the oldest answer may have changed.
    const waiting = [...this.#waiters];
    this.#waiters.clear();
    for (const w of waiting) w();
  }

  /** @internal */
  wait(cb: () => void): () => void {
    this.#waiters.add(cb);
    return () => this.#waiters.delete(cb);
  }
}

export class BudgetShare {
  readonly #budget: AnswerBudget;
  #held = 0;
  #released = false;
  #cancelWait: (() => void) | undefined;

  constructor(budget: AnswerBudget) {
    this.#budget = budget;
  }

  /** Takes `n` more bytes if the budget allows it now. */
  take(n: number): boolean {
    if (this.#released) return true;
    if (!this.#budget.tryTake(this, n)) return false;
    this.#held += n;
    return true;
  }

  /** Calls `cb` once, the next time bytes are released (then try `take` again). */
  whenFreed(cb: () => void): void {
    this.#cancelWait?.();
    this.#cancelWait = this.#budget.wait(() => {
      this.#cancelWait = undefined;
      cb();
    });
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#cancelWait?.();
    this.#cancelWait = undefined;
    this.#budget.release(this, this.#held);
    this.#held = 0;
  }
}

/**
 * The process-wide budget every connector uses unless given its own. With the per-answer
 * limit of 64 MiB (rpc.ts), at most 80 MiB of answers are held at once; measured against
 * hostile hosts (test/e2e/hostile-answers-memory), a command then peaks at 130–225 MB, under
 * its 300 MB bound (with 32 MiB, 261 MB). A 1000-VM pool's bulk reads (25 MB) never wait;
 * a 5000-VM pool's (125 MB) are read partly one after the other.
 */
export const DEFAULT_ANSWER_BUDGET_BYTES = 16 * 1024 * 1024;
export const sharedAnswerBudget = new AnswerBudget(DEFAULT_ANSWER_BUDGET_BYTES);
