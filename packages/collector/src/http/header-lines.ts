import type { IncomingMessage } from 'node:http';

/**
 * How many header lines a request has of this name (lower case). Node keeps one value of some
 * headers (the first `Content-Type`, the first `Authorization`) and drops the rest unseen, while
 * a proxy in front may have read the last: a request with two is refused rather than guessed at.
 *
 * @example
 * if (headerLines(req, 'authorization') > 1) throw ...;
 */
export function headerLines(req: IncomingMessage, name: string): number {
  let n = 0;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === name.length && raw[i].toLowerCase() === name) n++;
  }
  return n;
}
