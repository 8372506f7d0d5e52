/**
 * The exit codes of both command lines, `jcs-errors` and `jcs-collector` (contract sections 4
 * and 5), by name: one list, so the two cannot drift apart.
 *
 * @example
 * process.exitCode = EXIT.notFound; // 4
 */
export const EXIT = {
  ok: 0,
  /** the server is unreachable or failed; for jcs-collector, the command failed */
  failed: 1,
  /** a bad command line, or a request the collector rejected as invalid */
  usage: 2,
  /** 401 or 403 */
  notAuthorised: 3,
  /** no such group, report or token */
  notFound: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
