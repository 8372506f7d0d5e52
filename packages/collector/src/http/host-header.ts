import type { IncomingMessage } from 'node:http';
import { ApiError } from '@jcs/protocol';

/**
 * HTTP/1.1 requires a Host header (RFC 9112, 3.2). Node refuses a request without one itself,
 * but with a bare 400: no error body, and no access-log entry though the token was read. So
 * `serve` turns Node's check off (server.ts) and the app refuses such a request as it refuses
 * any other: 400 `invalid_request` with the error body, written to the access log.
 *
 * @example
 * if (lacksHost(req)) throw missingHost();
 */
export function lacksHost(req: IncomingMessage): boolean {
  return req.headers.host === undefined && req.httpVersion === '1.1';
}

/** The refusal of a request that {@link lacksHost}. */
export function missingHost(): ApiError {
  return new ApiError(
    'invalid_request',
    'The request has no Host header, which HTTP/1.1 requires: send one.',
  );
}
