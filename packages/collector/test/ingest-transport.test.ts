import { makeReport } from '../../../test-support/reports';
import { serveTestCollector, type ServedCollector } from './helpers/served';
import { rawRequest, rawSocket, statuses } from './helpers/raw-http';
import { ingestRowCounts } from './helpers/ingest-rows';

/**
 * Requests no well-behaved client sends, at the level of bytes on the socket: lying lengths,
 * bodies cut off, odd and oversized headers, paths that do not decode. None may get a 5xx, none
 * may store a report it did not finish sending, and the collector stays healthy.
 */

let s: ServedCollector;
beforeAll(async () => (s = await serveTestCollector()));
afterAll(() => s.stop());

/** Stands for the ingest token in bytes built before the collector starts; `send` fills it in. */
const INGEST = '<ingest-token>';
const send = (bytes: string, options?: Parameters<typeof rawSocket>[2]) =>
  rawSocket(s.url, bytes.replaceAll(INGEST, s.tokens.ingest), options);
const reportText = () => JSON.stringify(makeReport());
const head = (lines: string[], token?: string, type = 'application/json') =>
  [
    'POST /v1/reports HTTP/1.1',
    'Host: localhost',
    `Authorization: Bearer ${token ?? INGEST}`,
    `Content-Type: ${type}`,
    ...lines,
  ].join('\r\n') + '\r\n\r\n';
const stored = () => ingestRowCounts(s.collector.db).reports;
const chunk = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;

describe('the ingest path at the socket', () => {
  afterEach(async () => {
    const health = await rawRequest(s.url, { method: 'GET', path: '/v1/health' });
    expect(health.json).toEqual({ status: 'ok' });
  });

  it('a Content-Length larger than the body, then the client stops sending: no report, no 5xx', async () => {
    const body = reportText();
    const raw = await send(head([`Content-Length: ${body.length + 100}`]) + body, {
      end: true,
    });
    expect(statuses(raw).every((status) => status < 500)).toBe(true);
    expect(stored()).toBe(0);
  });

  it('a Content-Length smaller than the body: 400, nothing stored', async () => {
    const body = reportText();
    const raw = await send(head([`Content-Length: ${body.length - 1}`]) + body);
    // The left-over byte is parsed at once as a next request that is not HTTP: Node answers that
    // 400 and closes, which may come before our invalid_json for the cut body.
    expect(statuses(raw)[0]).toBe(400);
    expect(statuses(raw).every((status) => status < 500)).toBe(true);
    expect(stored()).toBe(0);
  });

  it('a whole report chunked but without the last chunk, then the client stops: not stored', async () => {
    const raw = await send(head(['Transfer-Encoding: chunked']) + chunk(reportText()), {
      end: true,
    });
    expect(statuses(raw).every((status) => status < 500)).toBe(true);
    expect(stored()).toBe(0);
  });

  it('a report cut off mid-chunk, then the client stops: not stored', async () => {
    const text = reportText();
    const raw = await send(
      head(['Transfer-Encoding: chunked']) +
        `${Buffer.byteLength(text).toString(16)}\r\n${text.slice(0, 40)}`,
      { end: true },
    );
    expect(statuses(raw).every((status) => status < 500)).toBe(true);
    expect(stored()).toBe(0);
  });

  it.each<[string, string, number]>([
    [
      'both Content-Length and Transfer-Encoding',
      head(['Content-Length: 5', 'Transfer-Encoding: chunked']) + '0\r\n\r\n',
      400,
    ],
    ['a Content-Length that is not a number', head(['Content-Length: abc']) + '{}', 400],
    ['two different Content-Lengths', head(['Content-Length: 2', 'Content-Length: 3']) + '{}', 400],
    ['a header line without a colon', head(['Content-Length: 2', 'no colon here']) + '{}', 400],
    ['a NUL byte in a header', head(['Content-Length: 2', 'X-Odd: a\u0000b']) + '{}', 400],
    [
      'headers over 16 KiB',
      head(['Content-Length: 2', `X-Big: ${'a'.repeat(20_000)}`]) + '{}',
      431,
    ],
    ['an unknown method', 'BREW /v1/reports HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['not HTTP at all', '\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003', 400],
  ])('%s: answered by the HTTP parser', async (_name, bytes, status) => {
    const raw = await send(bytes);
    expect(statuses(raw)).toEqual([status]);
    expect(stored()).toBe(0);
  });

  it('a declared 10 MiB body is refused with 413 before any of it is sent', async () => {
    const raw = await send(head(['Content-Length: 10485760']), { answers: 1 });
    expect(statuses(raw)).toEqual([413]);
    expect(raw).toContain('"payload_too_large"');
  });

  it('a 413 for a chunked body is readable on the socket, not a reset', async () => {
    const big = chunk(' '.repeat(600 * 1024)) + '0\r\n\r\n';
    const raw = await send(head(['Transfer-Encoding: chunked']) + big, {
      answers: 1,
    });
    expect(statuses(raw)).toEqual([413]);
  });

  it('an oversized bearer token and a Content-Type with a thousand parameters', async () => {
    const body = reportText();
    const raw1 = await send(
      head(['Connection: close', `Content-Length: ${body.length}`], 'x'.repeat(8000)) + body,
    );
    expect(statuses(raw1)).toEqual([401]);
    const raw2 = await send(
      head(
        ['Connection: close', `Content-Length: ${body.length}`],
        undefined,
        `text/plain${'; a=b'.repeat(1000)}`,
      ) + body,
    );
    expect(statuses(raw2)).toEqual([415]);
    expect(stored()).toBe(0);
  });

  it('Expect: 100-continue, pipelining and HTTP/1.0 all still work', async () => {
    const [a, b, c, d] = [reportText(), reportText(), reportText(), reportText()];
    const expect100 = await send(
      head(['Expect: 100-continue', 'Connection: close', `Content-Length: ${a.length}`]) + a,
    );
    expect(statuses(expect100)).toEqual([100, 202]);
    const pipelined = await send(
      head([`Content-Length: ${b.length}`]) +
        b +
        head(['Connection: close', `Content-Length: ${c.length}`]) +
        c,
    );
    expect(statuses(pipelined)).toEqual([202, 202]);
    const http10 = await send(
      head([`Content-Length: ${d.length}`]).replace('HTTP/1.1', 'HTTP/1.0') + d,
    );
    expect(statuses(http10)).toEqual([202]);
    expect(stored()).toBe(4);
  });

  it.each([
    ['GET', '/v1/reports/%E0%A4%A'],
    ['GET', '/v1/reports/%ZZ?dump=1'],
    ['GET', '/v1/groups/%ZZ'],
    ['GET', '/v1/groups/%E0/reports'],
    ['PATCH', '/v1/groups/%'],
  ])('%s %s: a path that does not decode is a 400, not a 500', async (method, path) => {
    const answer = await rawRequest(s.url, {
      method,
      path,
      headers: { Authorization: `Bearer ${s.tokens.engineer}` },
    });
    expect(answer.status).toBe(400);
    expect(answer.json.error.code).toBe('invalid_request');
    expect(answer.json.error.details).toEqual([
      { path: 'path', message: 'must be valid percent-encoding' },
    ]);
  });

  it('a very long path is a 404', async () => {
    const answer = await rawRequest(s.url, { path: `/v1/reports/${'a'.repeat(8000)}` });
    expect(answer.status).toBe(404);
  });

  it('logged no 5xx and no unexpected error, and logged aborted requests as such', () => {
    expect(s.log.failures()).toEqual([]);
    const requests = s.log.lines().filter((l) => l.msg === 'request');
    expect(requests.some((l) => l.aborted === true)).toBe(true);
    // never a path, a query or a token in a log line
    const text = JSON.stringify(s.log.lines());
    expect(text).not.toContain('%E0');
    expect(text).not.toContain(s.tokens.ingest);
    expect(text).not.toContain(s.tokens.engineer);
  });
});
