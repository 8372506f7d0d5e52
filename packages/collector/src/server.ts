import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';

export interface ListenOptions {
  host: string;
  port: number;
  tlsCert?: string;
  tlsKey?: string;
}

export interface RunningServer {
  url: string;
  server: http.Server;
  /** Stops taking connections and resolves when every request in flight has been answered. */
  close(): Promise<void>;
}

/**
 * Listens over HTTP, or HTTPS when given a certificate and key.
 *
 * @example
 * const s = await listen(app, { host: '127.0.0.1', port: 0 });
 * console.log(s.url); // http://127.0.0.1:41234
 */
export async function listen(app: Express, options: ListenOptions): Promise<RunningServer> {
  const tls = options.tlsCert && options.tlsKey;
  const server: http.Server = tls
    ? https.createServer(
        { cert: fs.readFileSync(options.tlsCert!), key: fs.readFileSync(options.tlsKey!) },
        app,
      )
    : http.createServer(app);
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `${tls ? 'https' : 'http'}://${host}:${address.port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Idle kept-alive sockets would hold close() open; busy ones finish their request first.
        server.closeIdleConnections();
      }),
  };
}
