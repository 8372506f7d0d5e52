const FORMAT = new Intl.RelativeTimeFormat('en', { style: 'narrow', numeric: 'always' });

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

/**
 * A time as people say it, relative to `now`: "just now", "5m ago", "3h ago", "41d ago", "4mo ago".
 * Ages round down, so "3h ago" means at least three hours. Days go up to nine weeks, past the
 * 42-day retention: in weeks, a report 41 days old (a cut-off, a first sighting) read "5w ago",
 * which looks like 35 days. The wording comes from `Intl.RelativeTimeFormat`; only the choice of
 * unit is ours.
 *
 * @example
 * relativeTime('2026-11-28T07:00:00Z', new Date('2026-11-28T10:30:00Z')); // '3h ago'
 */
export function relativeTime(time: string | Date, now: Date): string {
  const at = typeof time === 'string' ? parseTime(time).ms : time.getTime();
  if (!Number.isFinite(at)) return String(time);
  const diff = now.getTime() - at;
  const age = Math.abs(diff);
  // A few seconds either way is clock skew between this machine and the collector.
  if (age < MINUTE) return 'just now';
  const sign = diff >= 0 ? -1 : 1;
  if (age < HOUR) return FORMAT.format(sign * Math.floor(age / MINUTE), 'minute');
  if (age < DAY) return FORMAT.format(sign * Math.floor(age / HOUR), 'hour');
  if (age < 9 * WEEK) return FORMAT.format(sign * Math.floor(age / DAY), 'day');
  if (age < 365 * DAY) return FORMAT.format(sign * Math.floor(age / (30 * DAY)), 'month');
  return FORMAT.format(sign * Math.floor(age / (365 * DAY)), 'year');
}

/**
 * A UTC time, to the second (or the minute), in a form that reads well next to a relative one.
 *
 * @example
 * absoluteTime('2026-11-28T10:15:00.123Z'); // '2026-11-28 10:15:00 UTC'
 * absoluteTime('2026-11-28T10:15:00.123Z', 'minute'); // '2026-11-28 10:15 UTC'
 * absoluteTime('1990-12-31T15:59:60-08:00'); // '1990-12-31 23:59:60 UTC' (a leap second)
 */
export function absoluteTime(time: string, precision: 'second' | 'minute' = 'second'): string {
  const { ms, leap } = parseTime(time);
  if (!Number.isFinite(ms)) return time;
  // Split at the T, not at fixed places: a year past 9999 (or before 0) has six digits and a sign.
  const iso = new Date(ms).toISOString();
  const t = iso.indexOf('T');
  const clock = iso.slice(t + 1, t + (precision === 'second' ? 9 : 6));
  return `${iso.slice(0, t)} ${leap && precision === 'second' ? `${clock.slice(0, 6)}60` : clock} UTC`;
}

/** A leap second's `:60`, which RFC 3339 allows and Date.parse refuses. */
const LEAP_SECOND = /:60(?=(?:\.\d+)?(?:[zZ]|[+-]\d{2}:\d{2})$)/;

/**
 * A time's milliseconds (NaN when it is not one); a leap second (`23:59:60Z`) as the second
 * before it, and said to be one.
 */
function parseTime(time: string): { ms: number; leap: boolean } {
  const ms = Date.parse(time);
  if (Number.isFinite(ms) || !LEAP_SECOND.test(time)) return { ms, leap: false };
  return { ms: Date.parse(time.replace(LEAP_SECOND, ':59')), leap: true };
}
