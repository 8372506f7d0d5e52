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
