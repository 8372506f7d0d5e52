import net from 'node:net';
import { MAX_PIPELINED, type RunningServer } from '../src/server';
import { listenTestCollector } from './helpers/served';

/**
 * HTTP pipelining: a connection may send requests without waiting for answers, and Node answers
 * all it has read before serving anyone else. Past MAX_PIPELINED at once, `serve` (listen())
 * closes the connection instead.
 */

let server: RunningServer;
let stop: () => Promise<void>;
beforeAll(async () => ({ server, stop } = await listenTestCollector()));
afterAll(() => stop());

/** Writes `count` pipelined health checks at once; resolves with what came back when it closes. */
function pipeline(count: number, close: boolean): Promise<string> {
  const { port } = new URL(server.url);
  const one = 'GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n';
  const last = 'GET /v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';
  return new Promise<string>((resolve) => {
    let received = '';
    const socket = net.connect(Number(port), '127.0.0.1', () => {
      socket.write(one.repeat(count - 1) + (close ? last : one));
    });
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (received += d));
    socket.on('error', () => {});
    socket.on('close', () => resolve(received));
  });
}

// Answers follow each other's bodies directly: no line start to anchor on.
const answered = (raw: string) => (raw.match(/HTTP\/1\.1 200 /g) ?? []).length;

it('a few requests pipelined at once are all answered', async () => {
  expect(answered(await pipeline(10, true))).toBe(10);
});

it('thousands at once: the connection is closed after the first MAX_PIPELINED, others served', async () => {
  const flood = pipeline(20_000, false);
  const raw = await flood;
  expect(answered(raw)).toBeLessThanOrEqual(MAX_PIPELINED);
  const health = await fetch(`${server.url}/v1/health`);
  expect(await health.json()).toEqual({ status: 'ok' });
});
