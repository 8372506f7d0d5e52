import { makeReport } from '../../../test-support/reports';
import { rawConnection, reportPost, statuses } from './helpers/raw-http';
import { listenTestCollector } from './helpers/served';

/**
 * listen()'s close(), as `serve` stops: a request still running at its deadline is cut off, and
 * its log line is written before close() resolves (serve logs "stopped" and exits then).
 */

it('a request cut off at the deadline is logged, aborted, before close() resolves', async () => {
  const { s, server, stop } = await listenTestCollector({ closeTimeoutMs: 300 });
  const c = rawConnection(server.url);
  // "100 Continue" goes out once the app has checked the token and begins to read the body.
  c.socket.write(
    [
      'POST /v1/reports HTTP/1.1',
      'Host: localhost',
      `Authorization: Bearer ${s.tokens.ingest}`,
      'Content-Type: application/json',
      'Content-Length: 100',
      'Expect: 100-continue',
    ].join('\r\n') + '\r\n\r\n',
  );
  await c.until('100 Continue');
  // The start of a body whose rest never comes.
  c.socket.write('{"schema":');
  try {
    await server.close();
  } finally {
    await stop();
  }
  const lines = s.log.lines().filter((l) => l.msg === 'request');
  expect(lines).toEqual([
    expect.objectContaining({ route: '/v1/reports', status: null, aborted: true, actor: 'app' }),
  ]);
  await c.closed;
});

it('two requests pipelined before the stop are both answered, then the connection closes', async () => {
  const { s, server, stop } = await listenTestCollector();
  try {
    const reports = [makeReport(), makeReport()];
    let read = 0;
    const bothRead = new Promise<void>((resolve) =>
      server.server.on('request', () => ++read === 2 && resolve()),
    );
    const c = rawConnection(server.url);
    c.socket.write(reports.map((r) => reportPost(s.tokens.ingest, r)).join(''));
    await bothRead;
    await server.close();
    await c.closed;
    expect(statuses(c.received())).toEqual([202, 202]);
    for (const r of reports)
      expect(s.collector.db.prepare('SELECT 1 FROM reports WHERE id = ?').get(r.id)).toBeDefined();
  } finally {
    await stop();
  }
});

it('a kept-alive connection whose next head is half sent at the stop is closed at once', async () => {
  // Were it left open, close() would wait for Node's headers timeout (some seconds) or the 60 s
  // deadline, past this test's 3 s.
  const { server, stop } = await listenTestCollector({ closeTimeoutMs: 60_000 });
  try {
    const c = rawConnection(server.url);
    c.socket.write('GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await c.until('"ok"');
    c.socket.write('GET /v1/health HTTP/1.1\r\nHo');
    await new Promise((r) => setTimeout(r, 50));
    await server.close();
    await c.closed;
    expect(statuses(c.received())).toEqual([200]);
  } finally {
    await stop();
  }
}, 3_000);

it('requests pipelined after the stop are not served, and told once a connection', async () => {
  const late: string[] = [];
  const { s, server, stop } = await listenTestCollector({
    onLateRequest: (req) => late.push(String(req.method)),
  });
  try {
    const c = rawConnection(server.url);
    const first = makeReport();
    const a = reportPost(s.tokens.ingest, first, 'Expect: 100-continue');
    c.socket.write(a.slice(0, -10));
    await c.until('100 Continue');
    const closed = server.close();
    const behind = Array.from({ length: 40 }, () => reportPost(s.tokens.ingest, makeReport()));
    c.socket.write(a.slice(-10) + behind.join(''));
    await closed;
    await c.closed;
    expect(statuses(c.received())).toEqual([100, 202]);
    expect(late).toEqual(['POST']);
    expect(s.collector.db.prepare('SELECT COUNT(*) AS n FROM reports').get()).toEqual({ n: 1 });
  } finally {
    await stop();
  }
});
