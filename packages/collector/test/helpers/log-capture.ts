import { createLogger, type Logger } from '../../src/log';

export interface CapturedLog {
  logger: Logger;
  /** every line so far, parsed */
  lines(): Record<string, unknown>[];
  /** the lines no request may cause for client input: 5xx answers and unexpected errors */
  failures(): Record<string, unknown>[];
}

/**
 * The collector's real logger (same redaction, same fields), writing into memory.
 *
 * @example
 * const log = captureLog();
 * t.collector.log = log.logger; // before createApp
 */
export function captureLog(): CapturedLog {
  const raw: string[] = [];
  const logger = createLogger({
    level: 'info',
    destination: { write: (line: string) => void raw.push(line) },
  });
  const lines = () => raw.map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    logger,
    lines,
    failures: () =>
      lines().filter(
        (l) =>
          l.msg === 'unexpected error' ||
          (typeof l.status === 'number' && (l.status as number) >= 500),
      ),
  };
}
