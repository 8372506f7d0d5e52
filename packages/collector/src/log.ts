import pino from 'pino';

export type Logger = pino.Logger;

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
      level: options.level ?? process.env.JCS_LOG_LEVEL ?? 'info',
      base: { service: 'jcs-collector' },
      redact: {
        paths: [
          'req.headers.authorization',
          '*.authorization',
          '*.headers',
          '*.token',
          '*.username',
          '*.description',
          '*.dump',
          '*.body',
        ],
        censor: '[redacted]',
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? pino.destination({ fd: 2, sync: false }),
  );
}

export const silentLogger: Logger = pino({ level: 'silent' });
