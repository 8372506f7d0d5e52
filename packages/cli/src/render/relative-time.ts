const FORMAT = new Intl.RelativeTimeFormat('en', { style: 'narrow', numeric: 'always' });

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

/**
 * A time as people say it, relative to `now`: "just now", "5m ago", "3h ago", "2d ago", "3w ago",
 * "4mo ago". Ages round down, so "3h ago" means at least three hours. The wording comes from
 * `Intl.RelativeTimeFormat`; only the choice of unit is ours.
 *
 * @example
 * relativeTime('2026-11-28T07:00:00Z', new Date('2026-11-28T10:30:00Z')); // '3h ago'
 */
export function relativeTime(time: string | Date, now: Date): string {
  const at = typeof time === 'string' ? Date.parse(time) : time.getTime();
  if (!Number.isFinite(at)) return String(time);
  const diff = now.getTime() - at;
  const age = Math.abs(diff);
  // A few seconds either way is clock skew between this machine and the collector.
  if (age < MINUTE) return 'just now';
  const sign = diff >= 0 ? -1 : 1;
  if (age < HOUR) return FORMAT.format(sign * Math.floor(age / MINUTE), 'minute');
  if (age < DAY) return FORMAT.format(sign * Math.floor(age / HOUR), 'hour');
  if (age < 2 * WEEK) return FORMAT.format(sign * Math.floor(age / DAY), 'day');
  if (age < 365 * DAY) {
    const weeks = Math.floor(age / WEEK);
    if (weeks < 9) return FORMAT.format(sign * weeks, 'week');
    return FORMAT.format(sign * Math.floor(age / (30 * DAY)), 'month');
  }
  return FORMAT.format(sign * Math.floor(age / (365 * DAY)), 'year');
}

/**
 * A UTC time, to the second (or the minute), in a form that reads well next to a relative one.
 *
 * @example
 * absoluteTime('2026-11-28T10:15:00.123Z'); // '2026-11-28 10:15:00 UTC'
 * absoluteTime('2026-11-28T10:15:00.123Z', 'minute'); // '2026-11-28 10:15 UTC'
 */
export function absoluteTime(time: string, precision: 'second' | 'minute' = 'second'): string {
  const at = Date.parse(time);
  if (!Number.isFinite(at)) return time;
  const iso = new Date(at).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, precision === 'second' ? 19 : 16)} UTC`;
}
