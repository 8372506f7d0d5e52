import net from 'node:net';
import { listenTestCollector } from './helpers/served';

/**
 * listen()'s close(), as `serve` stops: a request still running at its deadline is cut off, and
 * its log line is written before close() resolves (serve logs "stopped" and exits then).
 */

it('a request cut off at the deadline is logged, aborted, before close() resolves', async () => {
  const { s, server, stop } = await listenTestCollector({ closeTimeoutMs: 300 });
  const { port } = new URL(server.url);
  const socket = net.connect(Number(port), '127.0.0.1');
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  // "100 Continue" goes out once the app has checked the token and begins to read the body.
  const continued = new Promise<void>((resolve) => socket.once('data', () => resolve()));
  socket.write(
    [
      'POST /v1/reports HTTP/1.1',
      'Host: localhost',
      `Authorization: Bearer ${s.tokens.ingest}`,
      'Content-Type: application/json',
      'Content-Length: 100',
      'Expect: 100-continue',
    ].join('\r\n') + '\r\n\r\n',
  );
  await continued;
  // The start of a body whose rest never comes.
  socket.write('{"schema":');
  try {
    await server.close();
  } finally {
    await stop();
  }
  const lines = s.log.lines().filter((l) => l.msg === 'request');
  expect(lines).toEqual([
    expect.objectContaining({ route: '/v1/reports', status: null, aborted: true, actor: 'app' }),
  ]);
  await closed;
});
