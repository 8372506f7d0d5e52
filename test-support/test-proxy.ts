import http from 'node:http';
import net, { type AddressInfo } from 'node:net';

/** What a test proxy saw. */
export interface ProxyLog {
  /** `CONNECT` targets, as asked (`collector.test:8443`) */
  connects: string[];
  /** absolute-form requests' URLs, as asked (`http://collector.test:8080/v1/reports`) */
  forwarded: string[];
  /** each request's Proxy-Authorization header (undefined: none) */
  authorizations: (string | undefined)[];
  /** every byte that went through its tunnels from the client, as latin1 */
  tunnelled: string;
}

export interface TestProxy {
  /** `http://127.0.0.1:<port>/` */
  url: string;
  log: ProxyLog;
  close(): Promise<void>;
}

/**
 * A real HTTP proxy on loopback, for the proxy tests (the SDK's, jcs-errors'): CONNECT tunnels and absolute-form
 * requests, with every host name taken to mean 127.0.0.1 (so an endpoint such as
 * `https://collector.test:PORT/` reaches a test server without DNS). `password`: answer 407
 * unless the request carries `Basic base64(password)`.
 *
 * @example
 * const proxy = await startTestProxy({ password: 'ann:secret' });
 */
export async function startTestProxy(options: { password?: string } = {}): Promise<TestProxy> {
  const log: ProxyLog = { connects: [], forwarded: [], authorizations: [], tunnelled: '' };
  const expected =
    options.password === undefined
      ? undefined
      : `Basic ${Buffer.from(options.password).toString('base64')}`;
  const allowed = (req: http.IncomingMessage) => {
    const given = req.headers['proxy-authorization'];
    log.authorizations.push(given);
    return expected === undefined || given === expected;
  };
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    log.forwarded.push(req.url ?? '');
    if (!allowed(req)) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test"' }).end();
      return;
    }
    const target = new URL(req.url ?? '');
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    const upstream = http.request(
      { host: '127.0.0.1', port: target.port, path: target.pathname, method: req.method, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    log.connects.push(req.url ?? '');
    if (!allowed(req)) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n');
      return;
    }
    const port = Number(/:(\d+)$/.exec(req.url ?? '')?.[1]);
    const upstream = net.connect(port, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      client.on('data', (chunk: Buffer) => (log.tunnelled += chunk.toString('latin1')));
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    log,
    async close() {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
