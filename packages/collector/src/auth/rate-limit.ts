/** Milliseconds on a clock that only moves forward. */
export type MonotonicClock = () => number;

/** Wall-clock jumps (NTP, a changed clock) must neither refill nor starve a bucket. */
const monotonicClock: MonotonicClock = () => performance.now();

export interface BucketOptions {
  /** tokens added per minute; 0 turns the limit off */
  perMinute: number;
  /** the most tokens a bucket holds: how many requests may arrive at once after a quiet spell */
  burst: number;
  /** at most this many buckets are kept; the least recently used go first beyond it */
  maxKeys?: number;
  now?: MonotonicClock;
}

interface Bucket {
  tokens: number;
  at: number;
}

const DEFAULT_MAX_KEYS = 100_000;

/**
 * Token buckets, one per key (a licence, a token name), in memory. A bucket that has refilled is
 * the same as no bucket, so idle ones are dropped and memory follows the number of keys active
 * within the last refill time, with a hard ceiling of `maxKeys`.
 *
 * @example
 * const perLicence = new KeyedRateLimiter({ perMinute: 120, burst: 30 });
 * const wait = perLicence.take('JCS-000123'); // 0: allowed; else seconds to wait
 */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  private readonly burst: number;
  private readonly maxKeys: number;
  private readonly now: MonotonicClock;
  private lastSweep: number;

  constructor(options: BucketOptions) {
    if (!(options.perMinute >= 0) || !(options.burst >= 1 || options.perMinute === 0)) {
      throw new RangeError('a rate limit needs perMinute >= 0 and, when on, a burst of at least 1');
    }
    this.perMs = options.perMinute / 60_000;
    this.burst = options.burst;
    this.maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
    this.now = options.now ?? monotonicClock;
    this.lastSweep = this.now();
  }

  get enabled(): boolean {
    return this.perMs > 0;
  }

  /** Buckets held now (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }

  /** Seconds until `key` may make a request (0: now), without using a token. */
  peek(key: string): number {
    if (!this.enabled) return 0;
    const bucket = this.buckets.get(key);
    return bucket ? this.waitFor(this.refill(bucket, this.now())) : 0;
  }

  /** Uses one token of `key` when there is one and answers 0; else the seconds to wait. */
  take(key: string): number {
    if (!this.enabled) return 0;
    const now = this.now();
    this.sweep(now);
    const known = this.buckets.get(key);
    const tokens = known ? this.refill(known, now) : this.burst;
    if (tokens < 1) return this.waitFor(tokens);
    // Re-inserting keeps the Map in least-recently-used order for eviction.
    this.buckets.delete(key);
    this.buckets.set(key, { tokens: tokens - 1, at: now });
    if (this.buckets.size > this.maxKeys) {
      this.buckets.delete(this.buckets.keys().next().value!);
    }
    return 0;
  }

  /** Gives back a token taken in vain (a second limit refused the same request). */
  refund(key: string): void {
    const bucket = this.buckets.get(key);
    if (bucket) bucket.tokens = Math.min(this.burst, bucket.tokens + 1);
  }

  private refill(bucket: Bucket, now: number): number {
    return Math.min(this.burst, bucket.tokens + Math.max(0, now - bucket.at) * this.perMs);
  }

  private waitFor(tokens: number): number {
    return tokens >= 1 ? 0 : Math.max(1, Math.ceil((1 - tokens) / this.perMs / 1000));
  }

  /** Drops buckets that have refilled, at most once per refill time of a whole bucket. */
  private sweep(now: number): void {
    const since = now - this.lastSweep;
    const due = since >= Math.min(this.burst / this.perMs, 60_000);
    // When full of active keys, sweeping on every request would cost O(keys) each: once a second
    // at most, and least-recently-used eviction in between.
    if (!due && !(this.buckets.size >= this.maxKeys && since >= 1_000)) return;
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) {
      if (this.refill(bucket, now) >= this.burst) this.buckets.delete(key);
    }
  }
}
