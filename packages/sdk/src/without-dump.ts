import type { Report } from '@jcs/protocol';

/**
 * The report without its dump, saying why: `too-large` after a 413 or to make room in a full
 * queue, `user-opt-out` when consent was withdrawn before it was sent.
 *
 * @example
 * withoutDump(report).dumpWithheld; // 'too-large'
 */
export function withoutDump(
  report: Report,
  why: 'too-large' | 'user-opt-out' = 'too-large',
): Report {
  const { dump: _dump, ...rest } = report;
  return { ...rest, dumpWithheld: why };
}
