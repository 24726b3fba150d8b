/**
 * Token buckets by key (a device id, a login name). Each bucket holds at most `burst` tokens and refills at `rate`
 * tokens per second. A cost larger than the bucket can still pass once the bucket is full: the bucket then goes into
 * debt and the long-run rate still holds, so a batch above `burst` is slowed, never refused forever.
 *
 * Plain synchronous code on the ingest hot path: one Map lookup and a few arithmetic operations per message. State is
 * per gateway node (docs/device-protocol.md, limits: with several nodes each node limits on its own).
 */
export class TokenBucketLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly perMs: number;
  private sweepAt = 1024;

  constructor(
    /** Tokens per second. */
    readonly rate: number,
    readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(rate > 0) || !(burst >= 1)) throw new RangeError('rate must be > 0 and burst >= 1');
    this.perMs = rate / 1000;
  }

  /** Takes `cost` tokens. Returns 0 when allowed, otherwise the milliseconds after which the same cost would pass. */
  take(key: string, cost = 1): number {
    const b = this.refill(key);
    const need = Math.min(cost, this.burst);
    if (b.tokens >= need) {
      b.tokens -= cost;
      return 0;
    }
    return Math.max(1, Math.ceil((need - b.tokens) / this.perMs));
  }

  /**
   * Milliseconds until `cost` would pass {@link take} (0: now); takes nothing. A cheap check before any parsing, and
   * how a batch that spans several keys is checked whole before any of it is taken.
   */
  wait(key: string, cost = 1): number {
    const b = this.buckets.get(key);
    if (!b) return 0;
    const tokens = Math.min(this.burst, b.tokens + (this.now() - b.at) * this.perMs);
    const need = Math.min(cost, this.burst);
    return tokens >= need ? 0 : Math.max(1, Math.ceil((need - tokens) / this.perMs));
  }

  /** Gives back `cost` tokens taken for something that turned out not to count (a login that succeeded). */
  refund(key: string, cost = 1): void {
    const b = this.refill(key);
    b.tokens = Math.min(this.burst, b.tokens + cost);
  }

  /** Buckets currently held (full buckets are dropped from time to time). */
  get size(): number {
    return this.buckets.size;
  }

  private refill(key: string): { tokens: number; at: number } {
    const now = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.sweepAt) this.sweep(now);
      b = { tokens: this.burst, at: now };
      this.buckets.set(key, b);
      return b;
    }
    b.tokens = Math.min(this.burst, b.tokens + (now - b.at) * this.perMs);
    b.at = now;
    return b;
  }

  /** A full bucket is the same as no bucket: forget those, so idle keys cost no memory. */
  private sweep(now: number): void {
    for (const [key, b] of this.buckets)
      if (b.tokens + (now - b.at) * this.perMs >= this.burst) this.buckets.delete(key);
    this.sweepAt = Math.max(1024, this.buckets.size * 2);
  }
}
