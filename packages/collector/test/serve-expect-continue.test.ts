import net from 'node:net';
import { makeReport } from '../../../test-support/reports';
import type { RunningServer } from '../src/server';
import { listenTestCollector, type ServedCollector } from './helpers/served';
import { ingestRowCounts } from './helpers/ingest-rows';

/**
 * `Expect: 100-continue`, as .NET's HttpWebRequest sends it with every POST: the client sends
 * headers, waits for `100 Continue`, and only then sends the body. The server `serve` runs
 * (listen()) says continue only once the request has passed the checks made before the body.
 */

let s: ServedCollector;
let server: RunningServer;
let stop: () => Promise<void>;
beforeAll(async () => ({ s, server, stop } = await listenTestCollector()));
afterAll(() => stop());

/**
 * Sends the head of a request that expects 100-continue and waits for the first thing the server
 * says. Sends the body only if that was `100 Continue`, then collects the rest until the server
 * closes the connection.
 */
function expectContinue(
  head: string[],
  body: string,
  requestLine = 'POST /v1/reports HTTP/1.1',
): Promise<string> {
  const { port } = new URL(server.url);
  return new Promise<string>((resolve, reject) => {
    let received = '';
    let sentBody = false;
    const socket = net.connect(Number(port), '127.0.0.1', () => {
      socket.write(
        [
          requestLine,
          'Host: localhost',
          'Connection: close',
          'Expect: 100-continue',
          `Content-Length: ${Buffer.byteLength(body)}`,
          ...head,
        ].join('\r\n') + '\r\n\r\n',
      );
    });
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      received += text;
      if (!sentBody && received.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
        sentBody = true;
        socket.write(body);
      }
    });
    socket.on('end', () => resolve(received));
    socket.on('error', reject);
    socket.setTimeout(5_000, () => reject(new Error(`no answer; so far: ${received}`)));
  });
}

const statusLines = (raw: string) => raw.match(/^HTTP\/1\.1 \d{3}[^\r]*/gm) ?? [];

it('a report that passes the checks gets 100 Continue, then its 202', async () => {
  const raw = await expectContinue(
    [`Authorization: Bearer ${s.tokens.ingest}`, 'Content-Type: application/json'],
    JSON.stringify(makeReport()),
  );
  expect(statusLines(raw)).toEqual(['HTTP/1.1 100 Continue', 'HTTP/1.1 202 Accepted']);
  expect(ingestRowCounts(s.collector.db).reports).toBe(1);
});

it('a triage change gets 100 Continue too, once its token has passed', async () => {
  const id = (s.collector.db.prepare('SELECT id FROM groups LIMIT 1').get() as { id: string }).id;
  const raw = await expectContinue(
    [`Authorization: Bearer ${s.tokens.engineer}`, 'Content-Type: application/json'],
    JSON.stringify({ status: 'ignored' }),
    `PATCH /v1/groups/${id} HTTP/1.1`,
  );
  expect(statusLines(raw)).toEqual(['HTTP/1.1 100 Continue', 'HTTP/1.1 200 OK']);
  const refused = await expectContinue(
    ['Authorization: Bearer nope', 'Content-Type: application/json'],
    JSON.stringify({ status: 'ignored' }),
    `PATCH /v1/groups/${id} HTTP/1.1`,
  );
  expect(statusLines(refused)).toEqual(['HTTP/1.1 401 Unauthorized']);
});

it.each<[string, string[], string]>([
  [
    'a revoked or unknown token',
    ['Authorization: Bearer nope', 'Content-Type: application/json'],
    '401',
  ],
  ['no token', ['Content-Type: application/json'], '401'],
  [
    'an engineer token',
    [`Authorization: Bearer <engineer>`, 'Content-Type: application/json'],
    '403',
  ],
  ['a wrong content type', ['Authorization: Bearer <ingest>', 'Content-Type: text/plain'], '415'],
  [
    'a declared length over the limit',
    ['Authorization: Bearer <ingest>', 'Content-Type: application/json'],
    '413',
  ],
])('%s is refused without 100 Continue, before the body is sent', async (_name, head, status) => {
  const before = ingestRowCounts(s.collector.db).reports;
  const filled = head.map((h) =>
    h.replace('<ingest>', s.tokens.ingest).replace('<engineer>', s.tokens.engineer),
  );
  const body = status === '413' ? 'x'.repeat(513 * 1024) : JSON.stringify(makeReport());
  const raw = await expectContinue(filled, body);
  expect(statusLines(raw)[0]).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
  expect(raw).not.toContain('100 Continue');
  expect(ingestRowCounts(s.collector.db).reports).toBe(before);
});

it('another expectation is served as if it were not there, and logged like any request', async () => {
  const { port } = new URL(server.url);
  const raw = await new Promise<string>((resolve, reject) => {
    let received = '';
    const socket = net.connect(Number(port), '127.0.0.1', () =>
      socket.write(
        'GET /v1/groups HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nExpect: something-else\r\n' +
          `Authorization: Bearer ${s.tokens.engineer}\r\n\r\n`,
      ),
    );
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => (received += text));
    socket.on('end', () => resolve(received));
    socket.on('error', reject);
  });
  // Node's own answer was a bare 417, the request never reaching the routes or the access log.
  expect(statusLines(raw)).toEqual(['HTTP/1.1 200 OK']);
  const last = s.collector.audit.list({ limit: 1 })[0];
  expect(last).toMatchObject({ action: 'groups.list', outcome: 'ok' });
});
