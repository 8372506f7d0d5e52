import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import type { Express } from 'express';
import { ApiError, shellWord } from '@jcs/protocol';
import { answerClientError, answerConnect } from './http/client-error';
import { deferContinue } from './http/expect-continue';
import { GracefulStop } from './http/graceful-stop';
import { sendJson } from './http/json-response';
import { limitConnections, type ConnectionLimits } from './http/connection-limits';
import { drainUnread } from './http/unread-body';

export interface ListenOptions {
  host: string;
  port: number;
  tlsCert?: string;
  tlsKey?: string;
  /** after close() is called, requests still running after this long are cut off */
  closeTimeoutMs?: number;
  /** how long a client may take to send a request's head (10 s) and the whole request (30 s) */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  /**
   * Told of a request that came after close() began, which is not served (see listen): its
   * connection is closing behind the answer it waits for, so no answer could reach it.
   */
  onLateRequest?: (req: http.IncomingMessage) => void;
  /**
   * Told of each request the server refuses before the app sees it, for the access log, which
   * keeps every engineer's and admin's request (auditServerRefusal): one too many pipelined on
   * its connection (see listen: the first answered 429 `rate_limited`, the rest unanswered as the
   * connection closes), and a `CONNECT` (404).
   */
  onRefusal?: (req: http.IncomingMessage, refusal: ApiError) => void;
  /** open connections per sender and in all (http/connection-limits.ts); none when absent */
  connectionLimits?: ConnectionLimits;
}

export interface RunningServer {
  url: string;
  server: http.Server;
  /**
   * Stops taking connections and resolves when every request in flight has been answered and
   * every connection is closed.
   */
  close(): Promise<void>;
  /**
   * Over HTTPS: reads the certificate and key files again and serves new connections with them
   * (a renewed certificate, without a restart). Throws a TlsSetupError, keeping the ones in use,
   * when they cannot be read or do not match. Absent over plain HTTP.
   */
  reloadTls?(): void;
}

/** Thrown when the certificate or key cannot be read or used, with the file named. */
export class TlsSetupError extends Error {}

/**
 * Listens over HTTP, or HTTPS when given a certificate and key.
 *
 * @example
 * const s = await listen(app, { host: '127.0.0.1', port: 0 });
 * console.log(s.url); // http://127.0.0.1:41234
 * await s.close();
 */
export async function listen(app: Express, options: ListenOptions): Promise<RunningServer> {
  const secure = Boolean(options.tlsCert && options.tlsKey);
  // Requests read after close() began on a connection closing behind another answer are not
  // served (http/graceful-stop.ts): no answer could reach them.
  const handler = pipelineBounded(
    app,
    (req) => stopper.isLate(req),
    options.onLateRequest,
    options.onRefusal,
  );
  // Node checks the request and headers timeouts on this interval (30 s by default, so a 30 s
  // limit held for 30 to 60 s): every second, a stalled sender is cut off after 30-31 s.
  // Node's refusal of a request without a Host header is a bare 400: the app refuses it instead,
  // with the error body and an access-log entry (http/host-header.ts).
  const checking = { connectionsCheckingInterval: 1_000, requireHostHeader: false };
  const server: http.Server = secure
    ? https.createServer(
        // A TLS handshake gets as long as a request's head (Node's default is 120 s, during which
        // a connection that never starts TLS holds a descriptor, and held a stop).
        {
          ...tlsOptions(options.tlsCert!, options.tlsKey!),
          ...checking,
          handshakeTimeout: 10_000,
        },
        handler,
      )
    : http.createServer(checking, handler);
  if (secure) {
    // As over plain HTTP (below), a client's half-close leaves the answer room to go out, but only
    // once TLS is up: half-open from the start, a client that sent its FIN before a handshake
    // held its connection, and its sender's slot (http/connection-limits.ts), until the timeout.
    server.prependListener('secureConnection', (socket: tls.TLSSocket) => {
      socket.allowHalfOpen = true;
    });
  }
  server.keepAliveTimeout = 5_000;
  // A client may close its sending side once the request is sent (a shell's `nc -N`, a script
  // on a raw socket). By default Node then ends the connection at once, and an answer that waits
  // for a commit is lost though the request took effect: a 202 nobody saw, a PATCH applied
  // unanswered. Half-open, the answer goes out and the connection closes after it.
  (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  // Node keeps the first 2,000 header lines and drops the rest unseen, and a second
  // Authorization header past them would go unnoticed (auth/middleware.ts refuses two, as a
  // proxy may pass on the last): every line is kept. The 16 KiB limit on names and values
  // bounds them (some 16,000 empty ones, about a millisecond to parse).
  server.maxHeadersCount = 0;
  server.headersTimeout = options.headersTimeoutMs ?? 10_000;
  server.requestTimeout = options.requestTimeoutMs ?? 30_000;
  // What the parser and these timeouts refuse gets the API's JSON error body too.
  server.on('clientError', answerClientError);
  server.on('connect', (req: http.IncomingMessage, socket: net.Socket) =>
    options.onRefusal?.(req, answerConnect(socket)),
  );
  // The 100 goes out when a handler starts reading the body, after the token and type checks.
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
    deferContinue(req, res);
    server.emit('request', req, res);
  });
  // Any other expectation is served as if it were not there, which RFC 9110 allows: Node's own
  // answer, a bare 417, bypassed the routes, so an engineer's request went unwritten in the
  // access log and the client got no error body.
  server.on('checkExpectation', (req: http.IncomingMessage, res: http.ServerResponse) => {
    server.emit('request', req, res);
  });
  if (options.connectionLimits) limitConnections(server, options.connectionLimits);
  const stopper = new GracefulStop(server, secure);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  const close = () => stopper.stop(options.closeTimeoutMs ?? 20_000);
  const reloadTls = () =>
    (server as unknown as tls.Server).setSecureContext(
      tlsOptions(options.tlsCert!, options.tlsKey!),
    );
  return {
    url: `${secure ? 'https' : 'http'}://${host}:${address.port}`,
    server,
    close,
    ...(secure ? { reloadTls } : {}),
  };
}

/**
 * Requests one connection may send at once (in one turn of the event loop, that is, read
 * together): no client of the collector pipelines more than a few, and Node answers every
 * request it has read from a connection before it serves another. One connection that pipelined
 * 20,000 health checks, without reading the answers, held every other client for 4.4 s.
 */
export const MAX_PIPELINED = 64;

/** How long the answers before the 429 have to go out before the connection is cut. */
const PIPELINE_CLOSE_MS = 10_000;

const TOO_MANY_PIPELINED = new ApiError(
  'rate_limited',
  `Over ${MAX_PIPELINED} requests were sent at once on one connection: send at most ${MAX_PIPELINED} before reading their answers.`,
  { headers: { 'Retry-After': '1' } },
);

/**
 * The app, for connections that keep to MAX_PIPELINED: past it the connection is read no
 * further, the first MAX_PIPELINED are answered, the next is answered 429 `rate_limited` with
 * `Connection: close`, and the rest, already read, are dropped unanswered at a few microseconds
 * each, as the connection closes after that 429. (Closing at once instead left the requests
 * already served, a change or a stored report among them, without their answers.) Late requests
 * (listen) are not served: the first of a connection is told to `onLate`, and the connection is
 * read no further.
 */
function pipelineBounded(
  app: Express,
  isLate: (req: http.IncomingMessage) => boolean,
  onLate?: (req: http.IncomingMessage) => void,
  onRefusal?: (req: http.IncomingMessage, refusal: ApiError) => void,
): http.RequestListener {
  const burst = new Map<net.Socket, number>();
  const told = new WeakSet<net.Socket>();
  return (req, res) => {
    const socket = req.socket;
    if (socket.destroyed) return void res.destroy();
    res.once('prefinish', drainIfUnread);
    // A request asking to switch protocols (`Upgrade: websocket` with `Connection: upgrade`, as
    // curl's `h2c`) is served as HTTP, but Node's parser reads nothing more on its connection: a
    // request pipelined behind it would wait unanswered until the idle timeout. Closing after the
    // answer tells the client to send it again on a new connection, as RFC 9112 has clients do
    // with unanswered requests. (An Upgrade header alone does not stop the parser.)
    if (asksToUpgrade(req)) res.shouldKeepAlive = false;
    if (burst.size === 0) setImmediate(() => burst.clear());
    const n = (burst.get(socket) ?? 0) + 1;
    burst.set(socket, n);
    if (n > MAX_PIPELINED) {
      onRefusal?.(req, TOO_MANY_PIPELINED);
      if (n === MAX_PIPELINED + 1) {
        socket.pause();
        // A peer that does not read its answers must not hold the socket and what was read.
        setTimeout(() => socket.destroy(), PIPELINE_CLOSE_MS).unref();
        res.shouldKeepAlive = false;
        sendJson(res, 429, TOO_MANY_PIPELINED.toBody(), TOO_MANY_PIPELINED.headers);
      }
      return;
    }
    if (!isLate(req)) return app(req, res);
    // Said once a connection, and no more of it read: what it sent after is not served either.
    if (told.has(socket)) return;
    told.add(socket);
    socket.pause();
    onLate?.(req);
  };
}

/** Whether Node's parser stopped after this request's head: `Upgrade` with `Connection: upgrade`. */
function asksToUpgrade(req: http.IncomingMessage): boolean {
  return (
    req.headers.upgrade !== undefined &&
    /(?:^|,)\s*upgrade\s*(?:,|$)/i.test(req.headers.connection ?? '')
  );
}

/**
 * A body still arriving after its answer (a 401 before it was looked at) is read within bounds:
 * Node's own draining took one-byte chunks without end, at 70 times their sender's CPU. Run at
 * 'prefinish', before Node's 'finish' handler would start that draining; one function for every
 * response, so a request costs no closure.
 */
function drainIfUnread(this: http.ServerResponse): void {
  if (!this.req.complete) drainUnread(this.req);
}

/**
 * TLS 1.2 and 1.3, and in 1.2 only forward-secret AEAD suites (Mozilla's "intermediate" list):
 * Node's default also takes RSA key exchange and CBC suites with SHA-1, which every client of
 * the collector (Node's, in the SDK and the CLI; a current proxy) can do without.
 */
const TLS_POLICY = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  honorCipherOrder: true,
} as const;

/**
 * Reads and checks the certificate and key as `listen` and a reload do, throwing TlsSetupError,
 * so that `serve` can refuse them before it opens the data dir.
 *
 * @example
 * checkTlsFiles('/etc/jcs/cert.pem', '/etc/jcs/key.pem'); // throws TlsSetupError naming the file
 */
export function checkTlsFiles(certFile: string, keyFile: string): void {
  tlsOptions(certFile, keyFile);
}

function tlsOptions(certFile: string, keyFile: string): https.ServerOptions {
  const read = (file: string, what: string) => {
    const flag = what === 'key' ? '--tls-key' : '--tls-cert';
    try {
      // Not a FIFO or a device: reading one blocks the whole process (a reload, the event loop).
      if (!fs.statSync(file).isFile()) {
        throw new TlsSetupError(
          `the TLS ${what} ${file} is not a regular file: give ${flag} a PEM file`,
        );
      }
      return fs.readFileSync(file);
    } catch (e) {
      if (e instanceof TlsSetupError) throw e;
      throw new TlsSetupError(
        `cannot read the TLS ${what} ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): give ${flag} a PEM file this user can read`,
      );
    }
  };
  const options = {
    cert: read(certFile, 'certificate'),
    key: read(keyFile, 'key'),
    ...TLS_POLICY,
  };
  // An encrypted key fails below as "bad decrypt", which reads as the wrong key.
  if (/ENCRYPTED/.test(options.key.toString('latin1'))) {
    throw new TlsSetupError(
      `the TLS key ${keyFile} is encrypted with a passphrase, which serve cannot take: give --tls-key the key unencrypted (openssl pkey -in ${shellWord(keyFile)} -out key.pem), readable by the collector's user only`,
    );
  }
  try {
    // Parses both now, so a bad PEM or a key that does not match is reported by file name.
    tls.createSecureContext(options);
  } catch (e) {
    // OpenSSL's reason ("key values mismatch", "no start line") is kept for whoever knows it.
    throw new TlsSetupError(
      `the TLS certificate ${certFile} and key ${keyFile} are not a usable PEM pair (${(e as Error).message}): give --tls-cert the certificate and --tls-key its own private key, both PEM`,
    );
  }
  // OpenSSL refuses a key of the certificate's type that is not its key, but takes one of another
  // type (an EC key beside an RSA certificate, a chain file with an intermediate first) without a
  // word, and then every handshake fails.
  if (!keyFitsCertificate(options.cert, options.key)) {
    throw new TlsSetupError(
      `the TLS key ${keyFile} is not the private key of the first certificate in ${certFile}: give --tls-key that certificate's own key, and put the server's certificate first in ${certFile}, its intermediates after it`,
    );
  }
  return options;
}

function keyFitsCertificate(cert: Buffer, key: Buffer): boolean {
  try {
    return new crypto.X509Certificate(cert).checkPrivateKey(crypto.createPrivateKey(key));
  } catch {
    return false;
  }
}
