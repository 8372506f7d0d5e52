import { STATUS_CODES } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type net from 'node:net';
import { ApiError, NO_ROUTE_MESSAGE } from '@jcs/protocol';

/**
 * What Node's HTTP parser and its timeouts refuse, before a request reaches the API, as a
 * catalogue error: a head over 16 KiB is 431, a request not whole in time is 408, anything else
 * that is not HTTP/1.1 (a bad request line, conflicting lengths) is 400.
 */
function parserError(err: Error & { code?: string }): ApiError {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new ApiError(
        'headers_too_large',
        'The request headers are over 16 KiB: send a shorter request.',
      );
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new ApiError(
        'payload_too_large',
        "The body's chunk extensions are over 16 KiB: send the body without them.",
      );
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ApiError(
        'request_timeout',
        'The request was not sent whole in time (10 s for its headers, 30 s in all): send it again.',
      );
    default:
      return new ApiError(
        'invalid_request',
        `The request is not valid HTTP/1.1 (${err.code ?? 'unparsable'}): check the request line, headers and body framing.`,
      );
  }
}

// Requests in flight that the parser's answer was for (a body that never came whole in time).
const answered = new WeakMap<IncomingMessage, ApiError>();

/**
 * The error answerClientError sent on this request's behalf, if it did: its log line and its
 * access-log entry show that rather than an abort.
 */
export function parserAnswered(req: IncomingMessage): ApiError | undefined {
  return answered.get(req);
}

/** Connections whose parser failed, answered once their whole requests are (answerClientError). */
const closing = new WeakSet<net.Socket>();

type HttpSocket = net.Socket & { _httpMessage?: ServerResponse | null };

/**
 * The server's 'clientError' listener: answers what the parser refused with the same JSON error
 * body as every other answer (Node's own is a bare status line), then closes the connection,
 * since the parser cannot find the next request's start.
 *
 * Whole requests read before the bytes that failed (pipelined, or a body followed by a stray
 * byte, as from a client whose Content-Length is one short) are served and answered first, and
 * the refusal follows them: they may have taken effect (a report stored, a group changed), and
 * HTTP matches answers to requests by order, so a refusal sent ahead of their answers would
 * be read as theirs. Node writes its 400 at once and closes, losing those answers.
 *
 * @example
 * server.on('clientError', answerClientError);
 */
export function answerClientError(err: Error & { code?: string }, socket: net.Socket): void {
  // The failed parser fails again on each later read: this connection is being answered already.
  if (closing.has(socket)) return;
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  closing.add(socket);
  // The bytes after the failure are not a request: read no more. (Node may resume reading to
  // drain a slow reader's answers; the failed parser then fails again, ignored above.)
  socket.pause();
  refuseInTurn(socket as HttpSocket, parserError(err));
}

/**
 * Waits for each queued answer in turn, then refuses: on the connection itself, or on behalf of
 * the request the parser was reading when it failed (its head read, its body not: a body not
 * whole in time, or one that failed to parse), whose handler would otherwise wait for the rest
 * of a body that can never come. Its answer cannot be cut into once begun (a refusal sent before
 * its body came): then the connection just closes.
 */
function refuseInTurn(socket: HttpSocket, e: ApiError): void {
  const current = socket._httpMessage;
  if (current && !current.req.complete) {
    if (current.headersSent) return void socket.destroy();
    answered.set(current.req, e);
    return answerAndClose(socket, e);
  }
  if (!current) return answerAndClose(socket, e);
  // Node hands the connection to the next queued answer when one finishes, before 'close'.
  current.once('close', () => {
    // A client gone, or an answer that closed the connection itself (`Connection: close`).
    if (socket.destroyed || socket.writableEnded) return;
    refuseInTurn(socket, e);
  });
}

/**
 * `CONNECT host:port`, which Node hands to a 'connect' listener rather than to the routes, and
 * without one closes unanswered: the API has no such method, so it is answered as any other
 * request to no route, `404 not_found`, and the connection closes. Returns that answer: its head
 * was read whole, token and all, so the caller has it written to the access log.
 *
 * @example
 * server.on('connect', (req, socket) => onRefusal(req, answerConnect(socket)));
 */
export function answerConnect(socket: net.Socket): ApiError {
  const e = new ApiError('not_found', NO_ROUTE_MESSAGE);
  answerAndClose(socket, e);
  return e;
}

function answerAndClose(socket: net.Socket, e: ApiError): void {
  const body = JSON.stringify(e.toBody());
  const head = [
    `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}`,
    `Date: ${new Date().toUTCString()}`,
    'Content-Type: application/json; charset=utf-8',
    'Cache-Control: no-store',
    'X-Content-Type-Options: nosniff',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
  ];
  // An answer still in flight is never sent: ended here, the socket takes no more writes.
  // A peer that stops reading must not hold the socket: it closes after a second either way.
  const bound = setTimeout(() => socket.destroy(), 1_000);
  bound.unref();
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`, () => {
    clearTimeout(bound);
    socket.destroy();
  });
}
