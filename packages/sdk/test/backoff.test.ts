import { createBackoff, parseRetryAfter } from '../src/backoff';

describe('backoff', () => {
  it('doubles from about a second up to an hour, with jitter inside the bounds', () => {
    const low = createBackoff({ minDelayMs: 1000, maxDelayMs: 3_600_000, random: () => 0 });
    const high = createBackoff({ minDelayMs: 1000, maxDelayMs: 3_600_000, random: () => 1 });
    const lows = Array.from({ length: 30 }, () => low.next());
    const highs = Array.from({ length: 30 }, () => high.next());
    expect(lows.slice(0, 4)).toEqual([1000, 1500, 3000, 6000]);
    expect(highs.slice(0, 4)).toEqual([1250, 2500, 5000, 10000]);
    for (const d of [...lows, ...highs]) {
      expect(d).toBeGreaterThanOrEqual(1000);
      expect(d).toBeLessThanOrEqual(3_600_000);
    }
    expect(highs[29]).toBe(3_600_000);
    expect(lows[29]).toBe(2_700_000);
  });

  it('starts again after reset', () => {
    const b = createBackoff({ minDelayMs: 100, maxDelayMs: 10_000, random: () => 0.5 });
    b.next();
    b.next();
    expect(b.failures).toBe(2);
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('spreads retries: jitter differs between clients', () => {
    // The second delay: the first is held at minDelayMs for half the draws (its lower jitter is
    // cut there), which made 20 clients show 4 distinct delays about once in a thousand runs.
    const delays = Array.from({ length: 20 }, () => {
      const b = createBackoff({ minDelayMs: 1000, maxDelayMs: 60_000 });
      b.next();
      return b.next();
    });
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(1500);
      expect(d).toBeLessThanOrEqual(2500);
    }
    // 1,001 possible values: 20 clients share one only by rare chance
    expect(new Set(delays).size).toBeGreaterThan(15);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-28T10:00:00Z');
  it.each([
    ['120', 120_000],
    ['0', 0],
    [' 5 ', 5000],
    ['Sat, 28 Nov 2026 10:00:30 GMT', 30_000],
    ['Sat, 28 Nov 2026 09:00:00 GMT', 0],
    ['soon', null],
    ['-5', null],
    ['1.5', null],
    ['', null],
    [null, null],
    [undefined, null],
  ])('%p -> %p', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});
