import { FloodLimiter, type HeldBack } from '../src/flood';

describe('FloodLimiter', () => {
  let now = 0;
  const limiter = () =>
    new FloodLimiter<number>({ maxPerGroup: 3, windowMs: 1000, now: () => now });
  const noEvict = () => {
    throw new Error('unexpected eviction');
  };
  /** Occurrence i of a test has the id `id<i>` and the sample i. */
  const admit = (
    f: FloodLimiter<number>,
    group: string,
    i: number,
    evicted: (held: HeldBack<number>) => void = noEvict,
  ) => f.admit(group, `id${i}`, i, evicted);

  beforeEach(() => {
    now = 0;
  });

  it('lets the first few through, then counts, then carries the count on the next report', () => {
    const f = limiter();
    const results = Array.from({ length: 10 }, (_, i) => admit(f, 'g', i));
    expect(results.slice(0, 3)).toEqual([
      { allowed: true, repeats: 0 },
      { allowed: true, repeats: 0 },
      { allowed: true, repeats: 0 },
    ]);
    // Every held-back occurrence is answered with the id of the report that will carry it: the
    // first held back's.
    expect(results[3]).toEqual({ allowed: false, first: true, carrierId: 'id3' });
    expect(results[9]).toEqual({ allowed: false, first: false, carrierId: 'id3' });
    expect(f.heldBack).toBe(7);
    now = 1000;
    // The next report to go out carries them, under that id.
    expect(admit(f, 'g', 10)).toEqual({ allowed: true, repeats: 7, carrierId: 'id3' });
    expect(f.heldBack).toBe(0);
    expect(admit(f, 'g', 11)).toEqual({ allowed: true, repeats: 0 });
  });

  it('keeps groups apart', () => {
    const f = limiter();
    for (let i = 0; i < 5; i++) admit(f, 'a', i);
    expect(admit(f, 'b', 0)).toEqual({ allowed: true, repeats: 0 });
  });

  it('drains held counts as a carrier (sample + repeats) when the window ends, or all at once', () => {
    const f = limiter();
    for (let i = 0; i < 8; i++) admit(f, 'g', i);
    expect(f.drain(false)).toEqual([]);
    expect(f.nextDrainIn()).toBe(1000);
    now = 600;
    expect(f.nextDrainIn()).toBe(400);
    expect(f.drain(true)).toEqual([{ sample: 7, repeats: 4, carrierId: 'id3' }]);
    expect(f.heldBack).toBe(0);
    expect(f.nextDrainIn()).toBeNull();
    // Drained early (a flush), the window goes on: the next occurrence is held back too.
    expect(admit(f, 'g', 8)).toEqual({ allowed: false, first: true, carrierId: 'id8' });
    // Drained when the window has ended, the carrier is the first of a new window.
    now = 1000;
    expect(f.drain(false)).toEqual([{ sample: 8, repeats: 0, carrierId: 'id8' }]);
    expect(admit(f, 'g', 9)).toEqual({ allowed: true, repeats: 0 });
    expect(admit(f, 'g', 10)).toEqual({ allowed: true, repeats: 0 });
    expect(admit(f, 'g', 11)).toEqual({ allowed: false, first: true, carrierId: 'id11' });
  });

  it('a flush in the middle of a loop sends what was held back, and lets no more through', () => {
    const f = limiter();
    let requests = 0;
    const loop = (from: number) => {
      for (let i = from; i < from + 10; i++) if (admit(f, 'g', i).allowed) requests++;
    };
    loop(0);
    requests += f.drain(true).length;
    loop(10);
    // 3 let through and one carrier for the other 7; the second ten are all held back.
    expect(requests).toBe(4);
    now = 1000;
    expect(f.drain(false)).toEqual([{ sample: 19, repeats: 9, carrierId: 'id10' }]);
  });

  it('stays bounded with many groups, handing over counts it evicts', () => {
    const evicted: HeldBack<number>[] = [];
    const f = new FloodLimiter<number>({
      maxPerGroup: 1,
      windowMs: 1000,
      now: () => now,
      maxGroups: 10,
    });
    for (let i = 0; i < 3; i++) admit(f, 'first', i, (h) => evicted.push(h));
    for (let g = 0; g < 20; g++) admit(f, `g${g}`, g, (h) => evicted.push(h));
    expect(evicted).toEqual([{ sample: 2, repeats: 1, carrierId: 'id1' }]);
  });
});
