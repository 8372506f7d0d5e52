/** Bounds of the retry delay after a network error or a 5xx. */
export interface BackoffOptions {
  minDelayMs: number;
  maxDelayMs: number;
  /** injectable for tests; defaults to Math.random */
  random?: () => number;
}

/**
 * Exponential back-off with jitter: about `minDelayMs` after the first failure, doubling up to
 * `maxDelayMs`. The jitter (±25 %) keeps a fleet of desktops that lost the collector at the same
 * moment from all coming back at the same moment.
 *
 * @example
 * const b = createBackoff({ minDelayMs: 1000, maxDelayMs: 3_600_000 });
 * b.next(); // ~1000
 * b.next(); // ~2000
 * b.reset();
 */
export function createBackoff(options: BackoffOptions) {
  const random = options.random ?? Math.random;
  let failures = 0;
  return {
    /** The delay before the next attempt; each call counts one more failure. */
    next(): number {
      const exponent = Math.min(failures, 40);
      failures++;
      const base = Math.min(options.maxDelayMs, options.minDelayMs * 2 ** exponent);
      const jittered = base * (0.75 + 0.5 * random());
      return Math.round(Math.min(options.maxDelayMs, Math.max(options.minDelayMs, jittered)));
    },
    reset(): void {
      failures = 0;
    },
    get failures(): number {
      return failures;
    },
  };
}

export type Backoff = ReturnType<typeof createBackoff>;

/**
 * `Retry-After` in milliseconds: delta-seconds or an HTTP date. Null when absent or unreadable,
 * so the caller falls back to its own back-off.
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | null {
  if (value === null || value === undefined) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/[a-z]/i.test(text)) return null;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}
