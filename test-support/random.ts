/**
 * A small deterministic generator of integers in [0, n), so a failing seed can be replayed.
 *
 * @example
 * const pick = seededRandom(7);
 * pick(6); // the same number every run
 */
export function seededRandom(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return Math.floor((s / 2147483648) * n);
  };
}

/**
 * mulberry32: a seeded generator of floats in [0, 1), the source of the model tests' choices.
 * Each test wraps it in the helpers it needs (pick, weighted, ...); a failing seed replays.
 *
 * @example
 * const next = mulberry32(7);
 * next(); // the same float in [0, 1) every run
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
