import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/**
 * Answers a JSON body on a plain Node response, with the same headers Express's `res.json()`
 * sends here (the app disables ETag and X-Powered-By): so an answer reads the same whether it
 * came through an Express route or the ingest fast path. One writeHead call: cheaper than a
 * setHeader per header, which matters on the ingest path.
 *
 * @example
 * sendJson(res, 202, { id, group }); // Content-Type: application/json; charset=utf-8
 */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Readonly<Record<string, string>>,
): void {
  const text = JSON.stringify(body);
  const head: OutgoingHttpHeaders = {
    ...headers,
    // Answers may hold personal data (a report, its dump): no cache, a proxy's included, keeps one.
    'Cache-Control': 'no-store',
    'Content-Type': 'application/json; charset=utf-8',
    'X-Content-Type-Options': 'nosniff',
    'Content-Length': Buffer.byteLength(text),
  };
  res.writeHead(status, head);
  res.end(text);
}
