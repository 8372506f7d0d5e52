import pino from 'pino';
import { FdLines } from './log-destination';

export type Logger = pino.Logger;

/** The levels `JCS_LOG_LEVEL` may name (pino's). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/**
 * The level `JCS_LOG_LEVEL` names (`info` when it is unset or empty), or null when it names none:
 * `serve` refuses to start with a usage error rather than pino's own failure.
 *
 * @example
 * envLogLevel({ JCS_LOG_LEVEL: 'warn' }); // 'warn'
 */
export function envLogLevel(env: NodeJS.ProcessEnv = process.env): string | null {
  const level = env.JCS_LOG_LEVEL?.trim().toLowerCase() || 'info';
  return LOG_LEVELS.includes(level) ? level : null;
}

/**
 * What the logger blanks, at the top of a line and one level down (pino's `*.x` is one level
 * only): the fields of a report that may hold personal data, a report or request body whole, and
 * credentials. `code` is left alone except inside `error`, where it is a report's line of code:
 * elsewhere it is an error code, which a log is for.
 */
const REDACTED_PATHS = [
  ...[
    'username',
    'description',
    'dump',
    'body',
    'report',
    'headers',
    'token',
    'authorization',
  ].flatMap((key) => [key, `*.${key}`]),
  'error.description',
  'error.code',
  '*.error.description',
  '*.error.code',
];

/**
 * Structured JSON lines on stderr. Only ids, codes, sizes and durations are ever logged: no
 * request bodies, paths, headers or tokens, no personal data (the redact list is a second line of
 * defence). `JCS_LOG_LEVEL` sets the level (default info).
 *
 * @example
 * const log = createLogger();
 * log.info({ url }, 'serving'); // {"level":30,"time":"...","service":"jcs-collector","url":"...","msg":"serving"}
 */
export function createLogger(
  options: { level?: string; destination?: pino.DestinationStream } = {},
): Logger {
  return pino(
    {
      level: options.level ?? envLogLevel() ?? 'info',
      base: { service: 'jcs-collector' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? stderrDestination(),
  );
}

/**
 * stderr, written asynchronously, and given up on when its reader goes away (`serve 2>&1 |
 * head`): the collector goes on, and stops when told to (log-destination.ts).
 */
function stderrDestination(): pino.DestinationStream {
  const destination = new FdLines(2);
  process.once('exit', () => destination.flushSync());
  return destination;
}

export const silentLogger: Logger = pino({ level: 'silent' });

/**
 * An error line that may repeat with every request (a keys folder made read-only, say), logged at
 * most once per `intervalMs`: the first at once, then, while they go on, one a minute saying how
 * many were left out (`repeats`); the last of those is said when the minute ends even when no
 * more come, so the count is never lost. Timed on a monotonic clock, so a clock set back cannot
 * mute it.
 *
 * @example
 * const headMarkFailed = rareError(log, 'access log head mark not written');
 * headMarkFailed(err); // logged; the same within a minute only counted
 */
export function rareError(
  log: Logger,
  message: string,
  intervalMs = 60_000,
  now: () => number = () => performance.now(),
): RareError {
  let last = -Infinity;
  let left = 0;
  let lastErr = '';
  let timer: NodeJS.Timeout | undefined;
  const say = (err: string) => {
    log.error({ err, ...(left > 0 ? { repeats: left } : {}) }, message);
    last = now();
    left = 0;
  };
  const failed = (err: Error) => {
    lastErr = err.message;
    if (now() - last >= intervalMs) {
      clearTimeout(timer);
      timer = undefined;
      say(err.message);
      return;
    }
    left++;
    // Unref'd: it never holds a stopping process.
    timer ??= setTimeout(
      () => {
        timer = undefined;
        if (left > 0) say(lastErr);
      },
      Math.max(0, intervalMs - (now() - last)),
    ).unref();
  };
  failed.flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (left > 0) say(lastErr);
  };
  return failed;
}

/** rareError's logger: call it with each failure; `flush` says a count still left out (at close). */
export interface RareError {
  (err: Error): void;
  flush(): void;
}
