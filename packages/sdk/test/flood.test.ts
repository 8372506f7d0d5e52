import { FloodLimiter } from '../src/flood';

describe('FloodLimiter', () => {
  let now = 0;
  const limiter = () =>
    new FloodLimiter<number>({ maxPerGroup: 3, windowMs: 1000, now: () => now });
  const noEvict = () => {
    throw new Error('unexpected eviction');
  };

  beforeEach(() => {
    now = 0;
  });

  it('lets the first few through, then counts, then carries the count on the next report', () => {
    const f = limiter();
    const results = Array.from({ length: 10 }, (_, i) => f.admit('g', i, noEvict));
    expect(results.slice(0, 3)).toEqual([
      { allowed: true, repeats: 0 },
      { allowed: true, repeats: 0 },
      { allowed: true, repeats: 0 },
    ]);
    expect(results[3]).toEqual({ allowed: false, first: true });
    expect(results[9]).toEqual({ allowed: false, first: false });
    expect(f.heldBack).toBe(7);
    now = 1000;
    expect(f.admit('g', 10, noEvict)).toEqual({ allowed: true, repeats: 7 });
    expect(f.heldBack).toBe(0);
  });

  it('keeps groups apart', () => {
    const f = limiter();
    for (let i = 0; i < 5; i++) f.admit('a', i, noEvict);
    expect(f.admit('b', 0, noEvict)).toEqual({ allowed: true, repeats: 0 });
  });

  it('drains held counts as a carrier (sample + repeats) when the window ends, or all at once', () => {
    const f = limiter();
    for (let i = 0; i < 8; i++) f.admit('g', i, noEvict);
    expect(f.drain(false)).toEqual([]);
    expect(f.nextDrainIn()).toBe(1000);
    now = 600;
    expect(f.nextDrainIn()).toBe(400);
    expect(f.drain(true)).toEqual([{ sample: 7, repeats: 4 }]);
    expect(f.heldBack).toBe(0);
    expect(f.nextDrainIn()).toBeNull();
    // the carrier counted as the first of a new window
    expect(f.admit('g', 8, noEvict)).toEqual({ allowed: true, repeats: 0 });
    expect(f.admit('g', 9, noEvict)).toEqual({ allowed: true, repeats: 0 });
    expect(f.admit('g', 10, noEvict)).toEqual({ allowed: false, first: true });
  });

  it('stays bounded with many groups, handing over counts it evicts', () => {
    const evicted: { sample: number; repeats: number }[] = [];
    const f = new FloodLimiter<number>({
      maxPerGroup: 1,
      windowMs: 1000,
      now: () => now,
      maxGroups: 10,
    });
    for (let i = 0; i < 3; i++) f.admit('first', i, (h) => evicted.push(h));
    for (let g = 0; g < 20; g++) f.admit(`g${g}`, g, (h) => evicted.push(h));
    expect(evicted).toEqual([{ sample: 2, repeats: 1 }]);
  });
});
