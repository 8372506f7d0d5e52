import { DAY_MS, HOUR_MS } from '../time';
import type { Db } from './db';
import { countOccurrences, type Window } from './occurrences';

/**
 * Where a window's `daily` periods start, oldest first: one per 24 hours, on whole UTC hours. The
 * newest is the hour `until` falls in, so far, and the 23 hours before it; each one before it the
 * 24 hours before that; the oldest starts at `since` and takes what is left (24 to 25 hours for a
 * duration of whole days, less for a window that is not a whole number of days). So `since=7d`
 * has 7 periods and `since=36h` 2, and a window of whole UTC days has one per day. On whole hours,
 * a period's edges are read from the hourly counts alone, never from the reports. A date-time
 * `until` is in its window, which so ends a millisecond after it (http/query.ts): that
 * millisecond makes no period of its own.
 *
 * @example
 * trendStarts({ since: 0, until: 2 * DAY_MS }); // [0, 86400000]
 */
export function trendStarts(w: Window): number[] {
  const n = Math.max(1, Math.ceil((w.until - w.since - 1) / DAY_MS));
  const anchor = Math.ceil(w.until / HOUR_MS) * HOUR_MS;
  const starts = [w.since];
  for (let k = 1; k < n; k++) starts.push(anchor - (n - k) * DAY_MS);
  return starts;
}

/**
 * Each group's `daily`: its occurrences in each of the window's 24-hour periods (trendStarts),
 * oldest first, from its occurrences by UTC day in the window (`byDay`, as countGroupDays reads
 * them). A period's count is the difference of two running totals from `since`: the whole days
 * before its start, from `byDay`, and the part of its start's day before it, read as a window
 * edge is (occurrences.ts; on a whole hour, from the hourly counts alone). So the periods add up to
 * the window's `count` exactly, and each costs at most 12 hourly rows per group.
 *
 * @example
 * dailyTrend(db, window, byDay, {}); // Map { '3fa9c1d2e4b7' => [0, 0, 3, 0, 1, 0, 7] }
 */
export function dailyTrend(
  db: Db,
  w: Window,
  byDay: Map<string, Map<number, number>>,
  filter: { version?: string },
): Map<string, number[]> {
  const starts = trendStarts(w);
  const totals = new Map<string, number[]>();
  for (const [group, days] of byDay) {
    const sorted = [...days].sort((a, b) => a[0] - b[0]);
    const running = [0];
    let i = 0;
    let before = 0;
    for (const start of starts.slice(1)) {
      const day = Math.floor(start / DAY_MS);
      while (i < sorted.length && sorted[i][0] < day) before += sorted[i++][1];
      running.push(before);
    }
    while (i < sorted.length) before += sorted[i++][1];
    running.push(before);
    totals.set(group, running);
  }
  // The part of each period's first UTC day before it starts, for the groups seen that day.
  for (let k = 1; k < starts.length; k++) {
    const dayStart = Math.floor(starts[k] / DAY_MS) * DAY_MS;
    if (starts[k] === dayStart) continue;
    const day = dayStart / DAY_MS;
    const groupIds = [...byDay].filter(([, days]) => days.get(day)).map(([g]) => g);
    if (groupIds.length === 0) continue;
    const edge = { since: Math.max(w.since, dayStart), until: starts[k] };
    for (const [group, n] of countOccurrences(db, edge, { ...filter, groupIds }, 'group')) {
      totals.get(group as string)![k] += n;
    }
  }
  const out = new Map<string, number[]>();
  for (const [group, running] of totals) {
    out.set(
      group,
      starts.map((_, k) => running[k + 1] - running[k]),
    );
  }
  return out;
}
