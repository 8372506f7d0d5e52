import pino from 'pino';

export type Logger = pino.Logger;

/**
 * Structured JSON lines on stderr. Only ids, codes, sizes and durations are ever logged: no
 * request bodies, no tokens, no personal data (the redact list is a second line of defence).
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
          '*.token',
          '*.username',
          '*.description',
        ],
        censor: '[redacted]',
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? pino.destination({ fd: 2, sync: false }),
  );
}

export const silentLogger: Logger = pino({ level: 'silent' });
