import type { IncomingMessage } from 'node:http';
import { ApiError } from '@jcs/protocol';
import { headerLines } from './header-lines';

/**
 * HTTP/1.1 requires a Host header (RFC 9112, 3.2). Node refuses a request without one itself,
 * but with a bare 400: no error body, and no access-log entry though the token was read. So
 * `serve` turns Node's check off (server.ts), and every route that takes a token refuses such a
 * request once the token is checked, as it refuses any other: 400 `invalid_request` with the
 * error body, written to the access log under its route. The two public routes answer it, so a
 * probe written by hand (`printf 'GET /v1/health HTTP/1.1\r\n\r\n' | nc`) still works.
 *
 * @example
 * checkHost(req); // throws the 400 for an HTTP/1.1 request without a Host header, or with two
 */
export function checkHost(req: IncomingMessage): void {
  if (req.headers.host === undefined && req.httpVersion === '1.1') {
    throw new ApiError(
      'invalid_request',
      'The request has no Host header, which HTTP/1.1 requires: send one.',
    );
  }
  // RFC 9112 3.2: two are a 400. Node keeps the first; a proxy in front may have routed by the last.
  if (headerLines(req, 'host') > 1) {
    throw new ApiError('invalid_request', 'Send one Host header, not several.');
  }
}
