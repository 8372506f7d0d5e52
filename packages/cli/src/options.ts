import { parseTimeBound, TIME_BOUND_HELP, VERSION_PATTERN } from '@jcs/protocol';
import { UsageError } from './errors';
import { shown } from './render/text';

// Options are checked here, before any request, so a typo costs no round trip and the message
// can say exactly what the option takes.

/**
 * Checks a window bound such as `--since`: a duration (`30m`, `12h`, `7d`, `6w`) or an ISO date.
 *
 * @example
 * checkTimeBound('yesterday', '--since');
 * // throws: --since takes 30m, 12h, 7d, 6w or an ISO date, not "yesterday"
 */
export function checkTimeBound(text: string, flag: string): string {
  if (parseTimeBound(text, new Date()) === null) {
    throw new UsageError(`${flag} takes ${TIME_BOUND_HELP}, not "${shown(text)}"`);
  }
  return text.trim();
}

/**
 * Checks `--since` (and `--until` where the command has it): each a bound `checkTimeBound` takes,
 * and the window not empty. The collector would refuse it too, but as "since must be before
 * until", which names an option `top` and `show` do not have.
 *
 * `defaultSince`: what the command sends when `--since` is not given, named when it is the cause.
 *
 * @example
 * checkWindow({ since: '0d' }, new Date());
 * // throws: --since must be in the past, not "0d": give a duration back from now such as 24h, ...
 */
export function checkWindow(
  given: { since?: string; until?: string; defaultSince?: string },
  now: Date,
): { since?: string; until?: string } {
  const sinceText = given.since ?? given.defaultSince;
  const since = sinceText === undefined ? undefined : checkTimeBound(sinceText, '--since');
  const until = given.until === undefined ? undefined : checkTimeBound(given.until, '--until');
  if (since === undefined) return { since, until };
  const from = parseTimeBound(since, now)!.getTime();
  if (until !== undefined) {
    if (from >= parseTimeBound(until, now)!.getTime()) {
      const which = given.since === undefined ? `--since (${since} when not given)` : '--since';
      throw new UsageError(
        `${which} must be before --until, not "${shown(since)}" and "${shown(until)}"`,
      );
    }
  } else if (from >= now.getTime()) {
    throw new UsageError(
      `--since must be in the past, not "${shown(since)}": give a duration back from now such as 24h, or an earlier date`,
    );
  }
  return { since, until };
}

/**
 * Checks a `--limit`: a whole number from 1 to `max`.
 *
 * @example
 * checkLimit('50', 500); // 50
 */
export function checkLimit(text: string, max: number, flag = '--limit'): number {
  const n = /^\s*\d{1,16}\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new UsageError(`${flag} takes a whole number from 1 to ${max}, not "${shown(text)}"`);
  }
  return n;
}

/**
 * Checks that an option is one of a few words.
 *
 * @example
 * checkChoice('all', '--status', ['unresolved', 'resolved', 'ignored', 'all'] as const); // 'all'
 */
export function checkChoice<T extends string>(
  text: string,
  flag: string,
  choices: readonly T[],
): T {
  const value = text.trim().toLowerCase();
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(`${flag} takes ${listChoices(choices)}, not "${shown(text)}"`);
  }
  return value as T;
}

/**
 * Checks a version such as `--version 5.2.1.345`: dotted numbers, as the report schema has them.
 *
 * @example
 * checkVersion('5.3', '--in-version'); // '5.3'
 */
export function checkVersion(text: string, flag: string): string {
  const value = text.trim();
  if (value.length > 64) {
    throw new UsageError(`${flag} takes a version of at most 64 characters, not "${shown(text)}"`);
  }
  if (!new RegExp(VERSION_PATTERN).test(value)) {
    throw new UsageError(
      `${flag} takes a version of dotted numbers such as 5.2.1, not "${shown(text)}"`,
    );
  }
  return value;
}

function listChoices(choices: readonly string[]): string {
  return choices.length <= 1
    ? choices.join('')
    : `${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}`;
}
