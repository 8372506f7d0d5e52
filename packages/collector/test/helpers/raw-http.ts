import http from 'node:http';
import net from 'node:net';

export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** the body parsed as JSON, or undefined when it is not JSON */
  json: any;
}

export interface RawRequest {
  method?: string;
  path: string;
  headers?: Record<string, string | undefined>;
  /** sent with its Content-Length */
  body?: string | Buffer;
  /** sent chunked, one write each, without a Content-Length */
  chunks?: (string | Buffer)[];
}

/**
 * One HTTP request on its own connection, headers exactly as given (`undefined` drops a header
 * Node would add), so tests can send what supertest would refuse or fix.
 *
 * @example
 * const a = await rawRequest(url, { method: 'POST', path: '/v1/reports', body: 'x' });
 */
export function rawRequest(baseUrl: string, r: RawRequest): Promise<RawAnswer> {
  return new Promise<RawAnswer>((resolve, reject) => {
    const url = new URL(r.path, baseUrl);
    const req = http.request(url, { method: r.method ?? 'POST', agent: false });
    for (const [k, v] of Object.entries(r.headers ?? {})) {
      if (v === undefined) req.removeHeader(k);
      else req.setHeader(k, v);
    }
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        req.destroy();
      });
    });
    req.on('error', reject);
    if (r.chunks) {
      req.setHeader('Transfer-Encoding', 'chunked');
      for (const c of r.chunks) req.write(c);
      req.end();
    } else {
      // With the whole body given to end(), Node sends it with its Content-Length.
      req.end(r.body);
    }
  });
}

/**
 * Writes raw bytes on a new TCP connection and collects whatever comes back until the server
 * closes it (send `Connection: close`), at most `waitMs`: for requests no HTTP client would send
 * (lying lengths, cut-off bodies).
 *
 * @example
 * const reply = await rawSocket(url, 'POST /v1/reports HTTP/1.1\r\n...', { end: true });
 */
export function rawSocket(
  baseUrl: string,
  bytes: string | Buffer,
  options: { end?: boolean; answers?: number; waitMs?: number } = {},
): Promise<string> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise<string>((resolve) => {
    let received = '';
    const socket = net.connect(Number(port), hostname, () => {
      socket.write(bytes);
      // FIN after the bytes: the client is done sending, whatever the request said.
      if (options.end) socket.end();
    });
    const timer = setTimeout(() => socket.destroy(), options.waitMs ?? 5000);
    socket.on('data', (d: Buffer) => {
      received += d.toString('latin1');
      if (options.answers !== undefined && completeAnswers(received) >= options.answers) {
        socket.destroy();
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
  });
}

/** How many whole answers (head and Content-Length body) raw bytes hold; 1xx heads count too. */
export function completeAnswers(raw: string): number {
  let count = 0;
  let at = 0;
  for (;;) {
    const headEnd = raw.indexOf('\r\n\r\n', at);
    if (headEnd < 0) return count;
    const head = raw.slice(at, headEnd);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    const end = headEnd + 4 + length;
    if (raw.length < end) return count;
    count++;
    at = end;
  }
}

/** The status code of every HTTP answer in raw bytes received on a socket. */
export function statuses(raw: string): number[] {
  return [...raw.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}

/**
 * The bytes of a `PATCH /v1/groups/:id` with `change` as its body, for tests that write requests
 * onto a socket themselves.
 *
 * @example
 * socket.write(groupPatch(token, group, { status: 'ignored' }));
 */
export function groupPatch(token: string, group: string, change: object): string {
  const body = JSON.stringify(change);
  return (
    [
      `PATCH /v1/groups/${group} HTTP/1.1`,
      'Host: localhost',
      `Authorization: Bearer ${token}`,
      'Content-Type: application/json',
      `Content-Length: ${Buffer.byteLength(body)}`,
    ].join('\r\n') +
    '\r\n\r\n' +
    body
  );
}

/**
 * The bytes of a `POST /v1/reports` with `report` as its body, extra header lines after the usual
 * ones (`Expect: 100-continue`), for tests that write requests onto a socket themselves.
 *
 * @example
 * socket.write(reportPost(token, makeReport()) + reportPost(token, makeReport())); // pipelined
 */
export function reportPost(token: string, report: object, ...headers: string[]): string {
  const body = JSON.stringify(report);
  return (
    [
      'POST /v1/reports HTTP/1.1',
      'Host: localhost',
      `Authorization: Bearer ${token}`,
      'Content-Type: application/json',
      `Content-Length: ${Buffer.byteLength(body)}`,
      ...headers,
    ].join('\r\n') +
    '\r\n\r\n' +
    body
  );
}

/**
 * A connection to `baseUrl` written to by hand: what it has received so far, a wait for some text
 * in it ("100 Continue"), and its close.
 *
 * @example
 * const c = rawConnection(url);
 * c.socket.write(reportPost(token, report, 'Expect: 100-continue').slice(0, -10));
 * await c.until('100 Continue');
 */
export function rawConnection(baseUrl: string): {
  socket: net.Socket;
  received(): string;
  until(text: string): Promise<void>;
  closed: Promise<void>;
} {
  const { hostname, port } = new URL(baseUrl);
  const socket = net.connect(Number(port), hostname);
  socket.on('error', () => {});
  let received = '';
  const waits: { text: string; resolve(): void }[] = [];
  socket.on('data', (d: Buffer) => {
    received += d.toString('latin1');
    for (const w of waits.splice(0)) {
      if (received.includes(w.text)) w.resolve();
      else waits.push(w);
    }
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return {
    socket,
    received: () => received,
    until: (text) =>
      received.includes(text)
        ? Promise.resolve()
        : new Promise<void>((resolve) => waits.push({ text, resolve })),
    closed,
  };
}
