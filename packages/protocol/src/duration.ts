const UNIT_MS: Record<string, number> = {
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/**
 * Parses a duration such as `30m`, `12h`, `7d` or `6w` into milliseconds; null when it is not one.
 *
 * @example
 * parseDuration('7d'); // 604800000
 */
export function parseDuration(text: string): number | null {
  const m = /^([0-9]{1,6})([mhdw])$/.exec(text.trim());
  if (!m) return null;
  return Number(m[1]) * UNIT_MS[m[2]];
}

const ISO_DATE_TIME =
  /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d{2}:\d{2})?)?$/;

/**
 * Parses a window bound: a duration back from `now` (`7d`) or an ISO date or date-time. A date or
 * date-time without a zone is taken as UTC. Null when it is neither.
 *
 * @example
 * parseTimeBound('6w', new Date('2026-11-28T00:00:00Z')); // 2026-10-17T00:00:00.000Z
 */
export function parseTimeBound(text: string, now: Date): Date | null {
  const duration = parseDuration(text);
  if (duration !== null) return new Date(now.getTime() - duration);
  // A `+02:00` offset typed into a URL unencoded arrives as ` 02:00` (a `+` in a query string is a
  // space): it can only have been the plus.
  const trimmed = text
    .trim()
    .replace(/([Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?) (\d{2}:\d{2})$/, '$1+$2');
  if (!ISO_DATE_TIME.test(trimmed)) return null;
  const hasZone = /(?:[Zz]|[+-]\d{2}:\d{2})$/.test(trimmed);
  const normalised = isDateAlone(trimmed)
    ? `${trimmed}T00:00:00Z`
    : hasZone
      ? trimmed
      : `${trimmed}Z`;
  const ms = Date.parse(normalised.replace(' ', 'T'));
  if (!Number.isFinite(ms) || !isRealCalendarDate(trimmed.slice(0, 10))) return null;
  return new Date(ms);
}

/**
 * True for a bound that names a whole day (`2026-12-01`), which parseTimeBound takes as 00:00
 * UTC: a window ends before such an `until` rather than at its first millisecond.
 *
 * @example
 * isDateAlone(' 2026-12-01 '); // true
 * isDateAlone('2026-12-01T00:00Z'); // false
 */
export function isDateAlone(text: string): boolean {
  return /^\d{4}-\d{2}-\d{2}$/.test(text.trim());
}

/** What `--since` and `since=` accept, for error messages. */
export const TIME_BOUND_HELP = '30m, 12h, 7d, 6w or an ISO date';

/** Date.parse rolls 2026-02-31 over into March; a bound must name a real day. */
function isRealCalendarDate(ymd: string): boolean {
  const [y, m, d] = ymd.split('-').map(Number);
  // setUTCFullYear, not Date.UTC: that takes years 0-99 as 1900-1999 (0001-01-01 as 1901).
  const date = new Date(0);
  date.setUTCFullYear(y, m - 1, d);
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}
