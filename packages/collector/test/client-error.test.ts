import { makeReport } from '../../../test-support/reports';
import { listenTestCollector } from './helpers/served';
import { rawRequest, rawSocket, reportPost } from './helpers/raw-http';
import { ingestRowCounts } from './helpers/ingest-rows';

/**
 * What Node's HTTP parser and its timeouts refuse before the API sees a request, behind the
 * server `serve` runs: the same JSON error body as every other answer, then the connection closes.
 */

let c: Awaited<ReturnType<typeof listenTestCollector>>;
beforeAll(async () => {
  c = await listenTestCollector({ headersTimeoutMs: 1_000, requestTimeoutMs: 2_000 });
});
afterAll(() => c.stop());

/** The one answer on a connection: its status, headers and parsed body; the socket closed. */
function oneAnswer(raw: string) {
  const [head, body] = [
    raw.slice(0, raw.indexOf('\r\n\r\n')),
    raw.slice(raw.indexOf('\r\n\r\n') + 4),
  ];
  const [statusLine, ...headerLines] = head.split('\r\n');
  const headers = Object.fromEntries(
    headerLines.map((l) => [
      l.slice(0, l.indexOf(':')).toLowerCase(),
      l.slice(l.indexOf(':') + 1).trim(),
    ]),
  );
  return { status: Number(statusLine.split(' ')[1]), headers, json: JSON.parse(body) };
}

const token = () => c.s.tokens.ingest;
const stored = () => ingestRowCounts(c.s.collector.db).reports;

describe('requests the HTTP parser refuses, behind listen()', () => {
  afterEach(async () => {
    const health = await rawRequest(c.server.url, { method: 'GET', path: '/v1/health' });
    expect(health.json).toEqual({ status: 'ok' });
    expect(stored()).toBe(0);
  });

  it.each<[string, () => string, number, string]>([
    [
      'an unknown method',
      () => 'BREW /v1/reports HTTP/1.1\r\nHost: x\r\n\r\n',
      400,
      'invalid_request',
    ],
    [
      'a TLS handshake on the plain port',
      () => '\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001',
      400,
      'invalid_request',
    ],
    [
      'both Content-Length and Transfer-Encoding',
      () =>
        reportPost(token(), makeReport(), 'Transfer-Encoding: chunked').replace(
          /\r\n\r\n[^]*$/,
          '\r\n\r\n0\r\n\r\n',
        ),
      400,
      'invalid_request',
    ],
    [
      'CONNECT, a method the API does not have',
      () => `CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token()}\r\n\r\n`,
      404,
      'not_found',
    ],
    [
      'a header line without a colon',
      () => 'GET /v1/health HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n',
      400,
      'invalid_request',
    ],
    [
      'a head over 16 KiB',
      () => `GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
      'headers_too_large',
    ],
  ])('%s: answered with the error body, connection closed', async (_name, bytes, status, code) => {
    const raw = await rawSocket(c.server.url, bytes());
    const answer = oneAnswer(raw);
    expect(answer.status).toBe(status);
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    // As on every other answer (docs/api.md), and dated as Node dates its own.
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(Math.abs(Date.parse(answer.headers.date) - Date.now())).toBeLessThan(60_000);
    expect(answer.headers.connection).toBe('close');
    expect(answer.json.error.code).toBe(code);
    expect(answer.json.error.message).toMatch(/\S/);
    // Nothing of the server's insides: no stack, no path.
    expect(raw).not.toMatch(/\/work\/|node_modules|at [\w.]+ \(/);
  });

  it('no Host header: 400 with the error body, and an access-log entry under its route', async () => {
    const raw = await rawSocket(
      c.server.url,
      `GET /v1/groups HTTP/1.1\r\nAuthorization: Bearer ${c.s.tokens.engineer}\r\nConnection: close\r\n\r\n`,
    );
    const answer = oneAnswer(raw);
    expect(answer.status).toBe(400);
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(answer.json.error).toEqual({
      code: 'invalid_request',
      message: 'The request has no Host header, which HTTP/1.1 requires: send one.',
    });
    const last = c.s.collector.db
      .prepare('SELECT actor, action, outcome FROM audit ORDER BY seq DESC LIMIT 1')
      .get();
    // Under its route, as any refusal after the token was checked.
    expect(last).toEqual({ actor: 'alice', action: 'GET /v1/groups', outcome: 'invalid_request' });
    // A report without one is refused too, and not stored (afterEach); HTTP/1.0 needs none, and
    // the public routes answer a probe written by hand without one.
    const report = reportPost(token(), makeReport(), 'Connection: close').replace(
      'Host: localhost\r\n',
      '',
    );
    expect(oneAnswer(await rawSocket(c.server.url, report)).json.error.code).toBe(
      'invalid_request',
    );
    const old = await rawSocket(c.server.url, 'GET /v1/health HTTP/1.0\r\n\r\n');
    expect(oneAnswer(old)).toMatchObject({ status: 200, json: { status: 'ok' } });
    const probe = 'GET /v1/health HTTP/1.1\r\nConnection: close\r\n\r\n';
    expect(oneAnswer(await rawSocket(c.server.url, probe))).toMatchObject({ status: 200 });
  });

  it('two Host headers: 400, for a report too, and nothing stored', async () => {
    const twice = `GET /v1/groups HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nAuthorization: Bearer ${c.s.tokens.engineer}\r\nConnection: close\r\n\r\n`;
    expect(oneAnswer(await rawSocket(c.server.url, twice))).toMatchObject({
      status: 400,
      json: { error: { code: 'invalid_request', message: 'Send one Host header, not several.' } },
    });
    const report = reportPost(token(), makeReport(), 'Connection: close').replace(
      'Host: localhost\r\n',
      'Host: localhost\r\nHost: other.example\r\n',
    );
    expect(oneAnswer(await rawSocket(c.server.url, report))).toMatchObject({
      status: 400,
      json: { error: { code: 'invalid_request' } },
    });
  });

  it("CONNECT with an engineer's token: its head was read whole, so it is in the access log", async () => {
    const raw = await rawSocket(
      c.server.url,
      `CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nAuthorization: Bearer ${c.s.tokens.engineer}\r\n\r\n`,
    );
    expect(oneAnswer(raw).status).toBe(404);
    const last = () =>
      c.s.collector.db
        .prepare('SELECT actor, action, target, outcome FROM audit ORDER BY seq DESC LIMIT 1')
        .get();
    // Written in the access log's next batch, after the answer.
    for (let i = 0; i < 50 && (last() as { action?: string })?.action !== 'CONNECT (no route)'; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(last()).toEqual({
      actor: 'alice',
      action: 'CONNECT (no route)',
      target: null,
      outcome: 'not_found',
    });
  });

  it('a report in a transfer coding other than chunked: 415, not read as JSON', async () => {
    const body = JSON.stringify(makeReport());
    const chunked = `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    const raw = await rawSocket(
      c.server.url,
      [
        'POST /v1/reports HTTP/1.1',
        'Host: x',
        `Authorization: Bearer ${token()}`,
        'Content-Type: application/json',
        'Transfer-Encoding: gzip, chunked',
        'Connection: close',
        '',
        chunked,
      ].join('\r\n'),
    );
    const answer = oneAnswer(raw);
    expect(answer.status).toBe(415);
    expect(answer.json.error.code).toBe('unsupported_media_type');
    expect(answer.json.error.message).toMatch(/Transfer-Encoding/);
  });

  it('two Content-Type headers: 415, whichever comes first', async () => {
    for (const [first, second] of [
      ['application/json', 'text/plain'],
      ['text/plain', 'application/json'],
    ]) {
      const raw = await rawSocket(
        c.server.url,
        reportPost(token(), makeReport(), `Content-Type: ${second}`, 'Connection: close').replace(
          'Content-Type: application/json',
          `Content-Type: ${first}`,
        ),
      );
      const answer = oneAnswer(raw);
      expect(answer.status).toBe(415);
      expect(answer.json.error.message).toBe('Send one Content-Type header, not several.');
    }
  });

  it("a second Authorization header is seen past Node's 2,000 header lines", async () => {
    const filler = Array.from({ length: 2_100 }, (_, i) => `x${i}: y\r\n`).join('');
    const raw = await rawSocket(
      c.server.url,
      `GET /v1/groups HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${c.s.tokens.engineer}\r\n` +
        `${filler}Authorization: Bearer ${c.s.tokens.admin}\r\nConnection: close\r\n\r\n`,
    );
    const answer = oneAnswer(raw);
    expect(answer.status).toBe(401);
    expect(answer.json.error.message).toBe('Send one Authorization header, not several.');
  });

  it('a head never finished: 408 request_timeout once its time is up', async () => {
    const raw = await rawSocket(c.server.url, 'GET /v1/health HTTP/1.1\r\nHost: x\r\n', {
      waitMs: 8_000,
    });
    const answer = oneAnswer(raw);
    expect(answer.status).toBe(408);
    expect(answer.json.error.code).toBe('request_timeout');
  });

  it('a report whose body never finishes: 408, not stored, logged as its 408', async () => {
    const before = c.s.log.lines().length;
    const whole = reportPost(token(), makeReport());
    const raw = await rawSocket(c.server.url, whole.slice(0, -20), { waitMs: 8_000 });
    const answer = oneAnswer(raw);
    expect(answer.status).toBe(408);
    expect(answer.json.error.code).toBe('request_timeout');
    const line = c.s.log
      .lines()
      .slice(before)
      .find((l) => l.msg === 'request' && l.route === '/v1/reports');
    expect(line).toMatchObject({ method: 'POST', status: 408 });
    expect(line).not.toHaveProperty('aborted');
  });

  it('a whole request ahead of a malformed one is answered first, then the refusal, and logged as answered', async () => {
    // Before, the parser's 400 went out at once in its place, and the request was logged aborted.
    const before = c.s.log.lines().length;
    const raw = await rawSocket(
      c.server.url,
      `GET /v1/groups HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${c.s.tokens.engineer}\r\n\r\n` +
        'BREW / HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    const second = raw.indexOf('HTTP/1.1 ', 1);
    const first = oneAnswer(raw.slice(0, second));
    expect(first.status).toBe(200);
    expect(first.json).toHaveProperty('groups');
    expect(oneAnswer(raw.slice(second)).json.error.code).toBe('invalid_request');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const line = c.s.log
      .lines()
      .slice(before)
      .find((l) => l.route === '/v1/groups');
    expect(line).toMatchObject({ status: 200 });
    expect(line).not.toHaveProperty('aborted');
  });

  it("an engineer's change whose body never finishes: 408, its access-log entry says so", async () => {
    const body = '{"status": "resolved"}';
    const raw = await rawSocket(
      c.server.url,
      [
        'PATCH /v1/groups/abcdef012345 HTTP/1.1',
        'Host: x',
        `Authorization: Bearer ${c.s.tokens.engineer}`,
        'Content-Type: application/json',
        `Content-Length: ${body.length}`,
        '',
        body.slice(0, 5),
      ].join('\r\n'),
      { waitMs: 8_000 },
    );
    expect(oneAnswer(raw).status).toBe(408);
    const last = c.s.collector.db
      .prepare('SELECT actor, outcome FROM audit ORDER BY seq DESC LIMIT 1')
      .get();
    expect(last).toEqual({ actor: 'alice', outcome: 'request_timeout' });
  });
});
