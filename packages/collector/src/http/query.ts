import {
  ApiError,
  cutDetailPath,
  isDateAlone,
  parseTimeBound,
  TIME_BOUND_HELP,
  type ErrorDetail,
} from '@jcs/protocol';
import { DAY_MS } from '../time';

/** The longest report window: about ten years of daily counts (3,661 per group at most). */
const MAX_WINDOW_DAYS = 3660;

const EARLIEST = Date.UTC(1970, 0, 1);
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * The paths of some details for a one-sentence message: the first five, cut to 64 characters, and
 * how many more (a thousand unknown names made a 100 KB message). `cutShort`: the details are a
 * checker's first few, not all there are, so "and more" without a count.
 *
 * @example
 * fewNames([{ path: '/a', message: '' }]); // '/a'
 */
export function fewNames(
  details: ErrorDetail[],
  shown = (p: string) => p,
  cutShort = false,
): string {
  // Cut as an answer's details are (ApiError.toBody).
  const all = [...new Set(details.map((d) => cutDetailPath(shown(d.path))))];
  const first = all.slice(0, 5).join(', ');
  if (cutShort) return `${first} and more`;
  return all.length <= 5 ? first : `${first} and ${all.length - 5} more`;
}

/**
 * Reads query parameters strictly: every bad one named in `details`, all at once. `takesBody`:
 * the route takes no parameters because what it needs goes in the body, and says so.
 */
export class QueryReader {
  private readonly problems: ErrorDetail[] = [];

  constructor(
    private readonly query: Record<string, unknown>,
    allowed: string[],
    takesBody = false,
  ) {
    const none = takesBody ? 'it takes none: what it needs goes in the body' : 'it takes none';
    for (const key of Object.keys(query)) {
      if (!allowed.includes(key))
        this.problems.push({
          path: key,
          message: allowed.length
            ? `is not a parameter of this route (use ${allowed.join(', ')})`
            : `is not a parameter of this route (${none})`,
        });
    }
  }

  private raw(name: string): string | undefined {
    const v = this.query[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') {
      this.problems.push({ path: name, message: 'must be given once, as a single value' });
      return undefined;
    }
    return v;
  }

  /** A window bound in ms; NaN (and a problem noted) when it is not one. */
  time(name: string, fallback: string, now: number): number {
    const text = this.raw(name) ?? fallback;
    const at = parseTimeBound(text, new Date(now));
    if (!at) {
      this.problems.push({
        path: name,
        // The value is not repeated back: error messages carry no text a client typed.
        message: `must be ${TIME_BOUND_HELP}`,
      });
      return NaN;
    }
    return at.getTime();
  }

  /**
   * A report window from `since` (default `sinceDefault`) to `until` (default now). Its bounds
   * must lie in the years 1970 to 9999 (so days print as YYYY-MM-DD), `since` before `until`, and
   * the window at most MAX_WINDOW_DAYS long: a window carries one count per day per group.
   *
   * `end` is where the window stops, excluded: `until` itself is in the window (a report received
   * this millisecond counts now), except where `until` is a date alone. That is a whole day named,
   * and `since=2026-12-01&until=2026-12-03` means the 1st and the 2nd, not the first millisecond
   * of the 3rd as well (which gave its answer a day in `daily` that only that millisecond was in).
   */
  window(sinceDefault: string, now: number): { since: number; until: number; end: number } {
    const { since, until } = this.bounds(sinceDefault, now);
    const text = this.query.until;
    const dateAlone = typeof text === 'string' && isDateAlone(text);
    return { since, until, end: dateAlone ? until : until + 1 };
  }

  private bounds(sinceDefault: string, now: number): { since: number; until: number } {
    const since = this.time('since', sinceDefault, now);
    const until = this.query.until === undefined ? now : this.time('until', '0m', now);
    let inYears = true;
    for (const [name, at] of [
      ['since', since],
      ['until', until],
    ] as const) {
      if (at >= EARLIEST && at <= LATEST) continue;
      // NaN: not a time at all, which time() has already said.
      if (!Number.isNaN(at)) this.problem(name, 'must be in the years 1970 to 9999');
      inYears = false;
    }
    if (!inYears) return { since, until };
    if (since >= until) {
      // `since` may not have been sent: its default counts back from now, not from `until`.
      const given = this.query.since !== undefined;
      this.problem(
        'since',
        given
          ? 'must be before until'
          : `must be before until (it defaults to ${sinceDefault} before now)`,
      );
    } else if (until - since > MAX_WINDOW_DAYS * DAY_MS) {
      this.problem('since', `must be at most ${MAX_WINDOW_DAYS} days before until`);
    }
    return { since, until };
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const text = this.raw(name);
    if (text === undefined) return fallback;
    if (!/^\d{1,16}$/.test(text) || Number(text) < min || Number(text) > max) {
      this.problems.push({ path: name, message: `must be a whole number from ${min} to ${max}` });
      return fallback;
    }
    return Number(text);
  }

  oneOf<T extends string>(name: string, fallback: T, values: readonly T[]): T {
    const text = this.raw(name);
    if (text === undefined) return fallback;
    if (!values.includes(text as T)) {
      this.problems.push({ path: name, message: `must be one of ${values.join(', ')}` });
      return fallback;
    }
    return text as T;
  }

  flag(name: string): boolean {
    const text = this.raw(name);
    if (text === undefined) return false;
    if (!['1', 'true', '0', 'false', ''].includes(text)) {
      this.problems.push({ path: name, message: 'must be 1 or 0 (true or false)' });
      return false;
    }
    return text === '1' || text === 'true' || text === '';
  }

  string(name: string, maxLength: number): string | undefined {
    const text = this.raw(name);
    if (text !== undefined && (text.length === 0 || text.length > maxLength)) {
      this.problems.push({ path: name, message: `must be 1 to ${maxLength} characters` });
      return undefined;
    }
    return text;
  }

  /** Adds a problem found by a cross-check of several parameters. */
  problem(path: string, message: string): void {
    this.problems.push({ path, message });
  }

  /** Throws 400 invalid_request naming every bad parameter. */
  done(): void {
    if (this.problems.length === 0) return;
    throw new ApiError('invalid_request', `Bad query parameter: ${fewNames(this.problems)}.`, {
      details: this.problems,
    });
  }
}
