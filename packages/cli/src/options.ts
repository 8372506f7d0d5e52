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
 * Checks a `--limit`: a whole number from 1 to `max`.
 *
 * @example
 * checkLimit('50', 500); // 50
 */
export function checkLimit(text: string, max: number, flag = '--limit'): number {
  const n = /^\s*\d{1,7}\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > max) {
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
