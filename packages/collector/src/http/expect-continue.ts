import type { IncomingMessage, ServerResponse } from 'node:http';

/** Requests whose client waits for `100 Continue` before it sends the body. */
const waiting = new WeakMap<IncomingMessage, ServerResponse>();

/**
 * Answers `Expect: 100-continue` only once the body is wanted. Node's default sends the 100 as
 * soon as the headers arrive, so a client with a revoked token, a wrong content type or a body
 * over the limit was told to send all of it (.NET's HttpWebRequest asks for every POST) before
 * it heard the refusal. Installed on the server by `listen()`.
 *
 * @example
 * server.on('checkContinue', (req, res) => {
 *   deferContinue(req, res);
 *   server.emit('request', req, res);
 * });
 */
export function deferContinue(req: IncomingMessage, res: ServerResponse): void {
  waiting.set(req, res);
}

/**
 * Sends the `100 Continue` a request's client may be waiting for, once, just before its body is
 * read. Does nothing for every other request.
 *
 * @example
 * continueIfAsked(req); // then read the body
 */
export function continueIfAsked(req: IncomingMessage): void {
  const res = waiting.get(req);
  if (res === undefined) return;
  waiting.delete(req);
  if (!res.headersSent && !res.writableEnded) res.writeContinue();
}
