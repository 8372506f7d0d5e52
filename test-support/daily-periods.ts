/**
 * A group's `daily` as the contract's models recount it, written apart from the collector's own
 * code: one count per 24 hours of the window [since, end), on whole UTC hours, the newest period
 * the hour `end` falls in and the 23 before it, the oldest taking what is left from `since` (a
 * date-time `until` makes `end` one millisecond past it, which makes no period of its own).
 */
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The whole hour the periods count back from: `end`, or the end of the hour it falls in. */
const anchorOf = (end: number) => Math.ceil(end / HOUR) * HOUR;

/** How many periods the window [since, end) has. */
export function periodCount(since: number, end: number): number {
  return Math.max(1, Math.ceil((end - since - 1) / DAY));
}

/** Where each period after the first starts, oldest first. */
export function periodStarts(since: number, end: number): number[] {
  const n = periodCount(since, end);
  return Array.from({ length: n - 1 }, (_, k) => anchorOf(end) - (n - 1 - k) * DAY);
}

/** The index, oldest first, of the period a moment in [since, end) falls in. */
export function periodOf(at: number, since: number, end: number): number {
  return Math.max(0, periodCount(since, end) - Math.ceil((anchorOf(end) - at) / DAY));
}
