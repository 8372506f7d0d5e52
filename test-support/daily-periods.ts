/**
 * A group's `daily` as the contract's models recount it, written apart from the collector's own
 * code: one count per 24 hours of the window [since, end), the newest period ending at `end`,
 * the oldest taking what is left (a date-time `until` makes `end` one millisecond past it, which
 * goes with the oldest period).
 */
const DAY = 86_400_000;

/** How many periods the window [since, end) has. */
export function periodCount(since: number, end: number): number {
  return Math.max(1, Math.ceil((end - since - 1) / DAY));
}

/** Where each period after the first starts, oldest first. */
export function periodStarts(since: number, end: number): number[] {
  const n = periodCount(since, end);
  return Array.from({ length: n - 1 }, (_, k) => end - (n - 1 - k) * DAY);
}

/** The index, oldest first, of the period a moment in [since, end) falls in. */
export function periodOf(at: number, since: number, end: number): number {
  return Math.max(0, periodCount(since, end) - Math.ceil((end - at) / DAY));
}
