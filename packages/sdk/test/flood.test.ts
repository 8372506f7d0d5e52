import type { Report } from '@jcs/protocol';
import { FloodLimiter, MAX_LINES_HELD, type HeldBack } from '../src/flood';
import { FloodControl } from '../src/flood-carriers';
import type { ReportQueue } from '../src/queue/types';

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
    expect(results[3]).toEqual({ allowed: false, first: true, carrierId: 'id3', repeats: 0 });
    expect(results[9]).toEqual({ allowed: false, first: false, carrierId: 'id3', repeats: 6 });
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
    expect(f.drain('due')).toEqual([]);
    expect(f.nextDrainIn()).toBe(1000);
    now = 600;
    expect(f.nextDrainIn()).toBe(400);
    expect(f.drain('flush')).toEqual([{ sample: 7, repeats: 4, carrierId: 'id3' }]);
    expect(f.heldBack).toBe(0);
    expect(f.nextDrainIn()).toBeNull();
    // Drained early (a flush), the window goes on: the next occurrence is held back too.
    expect(admit(f, 'g', 8)).toEqual({ allowed: false, first: true, carrierId: 'id8', repeats: 0 });
    // Drained when the window has ended, the carrier is the first of a new window.
    now = 1000;
    expect(f.drain('due')).toEqual([{ sample: 8, repeats: 0, carrierId: 'id8' }]);
    expect(admit(f, 'g', 9)).toEqual({ allowed: true, repeats: 0 });
    expect(admit(f, 'g', 10)).toEqual({ allowed: true, repeats: 0 });
    expect(admit(f, 'g', 11)).toEqual({
      allowed: false,
      first: true,
      carrierId: 'id11',
      repeats: 0,
    });
  });

  it('a flush in the middle of a loop sends what was held back, and lets no more through', () => {
    const f = limiter();
    let requests = 0;
    const loop = (from: number) => {
      for (let i = from; i < from + 10; i++) if (admit(f, 'g', i).allowed) requests++;
    };
    loop(0);
    requests += f.drain('flush').length;
    loop(10);
    // 3 let through and one carrier for the other 7; the second ten are all held back.
    expect(requests).toBe(4);
    now = 1000;
    expect(f.drain('due')).toEqual([{ sample: 19, repeats: 9, carrierId: 'id10' }]);
  });

  it('a host that flushes after every report in a loop: at most maxPerGroup early carriers a window', () => {
    const f = limiter();
    let requests = 0;
    for (let i = 0; i < 200; i++) {
      if (admit(f, 'g', i).allowed) requests++;
      requests += f.drain('flush').length;
    }
    // 3 let through, then 3 flushes each send a carrier of one; the other 194 stay held.
    expect(requests).toBe(6);
    expect(f.heldBack).toBe(194);
    // ...until the window ends, in one carrier, which begins the next window's count.
    now = 1000;
    expect(f.drain('due')).toEqual([{ sample: 199, repeats: 193, carrierId: 'id6' }]);
    expect(admit(f, 'g', 200)).toEqual({ allowed: true, repeats: 0 });
    expect(f.drain('flush')).toEqual([]);
    // close() and the process's exit send everything, whatever flush has sent.
    now = 1100;
    admit(f, 'g', 201);
    for (let i = 202; i < 205; i++) {
      admit(f, 'g', i);
      expect(f.drain('flush')).toEqual([{ sample: i, repeats: 0, carrierId: `id${i}` }]);
    }
    admit(f, 'g', 210);
    expect(f.drain('flush')).toEqual([]);
    expect(f.drain('all')).toEqual([{ sample: 210, repeats: 0, carrierId: 'id210' }]);
  });

  it("holds a group's lines apart, each with its own carrier, up to MAX_LINES_HELD lines", () => {
    const f = limiter();
    const at = (i: number, line: string) => f.admit('g', `id${i}`, i, noEvict, line);
    for (let i = 0; i < 3; i++) expect(at(i, 'a').allowed).toBe(true);
    // held back: two lines, two carriers
    expect(at(3, 'a')).toEqual({ allowed: false, first: true, carrierId: 'id3', repeats: 0 });
    expect(at(4, 'b')).toEqual({ allowed: false, first: true, carrierId: 'id4', repeats: 0 });
    expect(at(5, 'a')).toEqual({ allowed: false, first: false, carrierId: 'id3', repeats: 1 });
    expect(at(6, 'b')).toEqual({ allowed: false, first: false, carrierId: 'id4', repeats: 1 });
    expect(at(7, 'b')).toEqual({ allowed: false, first: false, carrierId: 'id4', repeats: 2 });
    expect(f.holding()).toEqual([
      { carrierId: 'id3', repeats: 1 },
      { carrierId: 'id4', repeats: 2 },
    ]);
    // a new window: line b's next report carries b's count only; a's stays held
    now = 1000;
    expect(at(8, 'b')).toEqual({ allowed: true, repeats: 3, carrierId: 'id4' });
    expect(f.heldBack).toBe(2);
    expect(f.drain('flush')).toEqual([{ sample: 5, repeats: 1, carrierId: 'id3' }]);
    // past MAX_LINES_HELD lines in a window, counted with the first held-back line
    now = 2000;
    for (let i = 10; i < 13; i++) at(i, 'x');
    expect(MAX_LINES_HELD).toBe(3);
    ['c', 'd', 'e', 'f', 'g'].forEach((line, k) => at(20 + k, line));
    expect(f.drain('flush')).toEqual([
      { sample: 24, repeats: 2, carrierId: 'id20' },
      { sample: 21, repeats: 0, carrierId: 'id21' },
      { sample: 22, repeats: 0, carrierId: 'id22' },
    ]);
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

describe('the flood window on its own clock', () => {
  it('opens a new window on time when the wall clock is set back meanwhile', async () => {
    const realNow = Date.now;
    let offset = 0;
    const spy = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + offset);
    try {
      const f = new FloodLimiter<number>({ maxPerGroup: 1, windowMs: 50 });
      expect(f.admit('g', 'id1', 1, () => undefined).allowed).toBe(true);
      expect(f.admit('g', 'id2', 2, () => undefined).allowed).toBe(false);
      // Set back ten minutes: on the wall clock the group would stay muted for ten minutes.
      offset = -600_000;
      await new Promise((resolve) => setTimeout(resolve, 80));
      expect(f.admit('g', 'id3', 3, () => undefined)).toMatchObject({ allowed: true, repeats: 1 });
    } finally {
      spy.mockRestore();
    }
  });
});

describe('FloodControl: the held count on disk', () => {
  it('tries a write that failed (a full disk) again after a second, not at every report', () => {
    let rewrites = 0;
    const queue = {
      hold: () => 'held-key',
      rewriteHeld: () => {
        rewrites++;
        throw Object.assign(new Error('no space'), { code: 'ENOSPC' });
      },
    } as unknown as ReportQueue;
    const flood = new FloodControl({
      maxPerGroup: 1,
      windowMs: 60_000,
      queue,
      diagnostic: () => undefined,
      makeCarrier: (carrierId) => ({ id: carrierId }) as unknown as Report,
      store: () => undefined,
      guard: (work) => work(),
    });
    const error = { number: 5, description: 'd', module: 'M', procedure: 'P', line: 1 };
    try {
      for (let i = 0; i < 2000; i++) {
        flood.admit(`id${i}`, { occurredAt: '2026-12-07T00:00:00Z', error });
      }
    } finally {
      flood.stop();
    }
    // the first growth past 8 tried it and failed; the loop's next 1,990 reports did not
    expect(rewrites).toBe(1);
  });
});
