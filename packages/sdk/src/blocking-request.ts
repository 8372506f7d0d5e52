import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { monotonicNow } from './clock';
import { OPEN_TUNNEL_SOURCE } from './proxy';
import { MAX_BODY_CHARS, proxyRoute, trustedWith } from './http-request';
import type { TransportRequest, TransportResponse } from './transport';

/**
 * Sends HTTP requests while the calling thread waits for the answers: for a process that is about
 * to die of an uncaught exception, which gets no more turns of its event loop to wait in.
 */
export interface BlockingRequester {
  /**
   * Blocks until the answer, at most `request.timeoutMs`; throws on a network error or time-out.
   * A name is looked up in DNS by c-ares, never by the system's resolver unless DNS answered.
   */
  request(request: TransportRequest): TransportResponse;
  /** Ends the worker thread (it would not keep the process alive anyway). */
  close(): void;
}

/** What the worker answers: an answer, or the name and code of the error it met. */
type WorkerAnswer =
  | { seq: number; response: TransportResponse }
  | { seq: number; error: { name: string; code?: string; message: string } };

/**
 * The worker: the SDK may be bundled into the host (so no file of its own to point a Worker at),
 * and nothing it needs is the SDK's: node:http or node:https, the certificates to trust (made
 * here, as the SDK's agents make them), a time-out, the proxy's CONNECT handshake (its source,
 * from proxy.ts). Each
 * answer is posted, then counted in the shared word and the waiting thread woken, as synckit does.
 */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const dns = require('node:dns');
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');
const tls = require('node:tls');
const { port, signal, maxBodyChars } = workerData;
const answered = new Int32Array(signal);

// The system's look-up (getaddrinfo) cannot be cancelled, and the process cannot end while one
// runs: with a DNS server that never answers, it would hold the dying process for the resolver's
// whole time-out. c-ares asks DNS itself and gives up when told; only when DNS has answered that
// it knows no such name is the system asked (the hosts file), and localhost goes there at once.
function lookup(hostname, options, callback, timeoutMs, resolvers) {
  const reply = (err, addresses) => {
    if (err) callback(err);
    else if (options.all) callback(null, addresses);
    else callback(null, addresses[0].address, addresses[0].family);
  };
  const family = net.isIP(hostname);
  if (family) return reply(null, [{ address: hostname, family }]);
  if (/(^|\\.)localhost\\.?$/i.test(hostname)) return dns.lookup(hostname, options, callback);
  const resolver = new dns.Resolver({ timeout: Math.max(50, Math.ceil(timeoutMs)), tries: 1 });
  resolvers.push(resolver);
  resolver.resolve4(hostname, (err, addresses) => {
    if (!err && addresses.length > 0) {
      return reply(null, addresses.map((address) => ({ address, family: 4 })));
    }
    if (err && err.code !== 'ENOTFOUND' && err.code !== 'ENODATA') return reply(err);
    dns.lookup(hostname, options, callback);
  });
}

${OPEN_TUNNEL_SOURCE}

// Through a proxy, for https://: a CONNECT tunnel with TLS inside (proxy.ts; for http:// the
// request itself goes to the proxy, as \`via\` says).
function tunnelled(tunnel, timeoutMs, lookupFn) {
  return {
    agent: undefined,
    defaultPort: 443,
    createConnection: (options, callback) => {
      const { servername, ...asked } = tunnel;
      const tlsOptions = { ...options, servername };
      openTunnel({ ...asked, net, tls, lookup: lookupFn, timeoutMs, tlsOptions }, callback);
    },
  };
}

function answer(message) {
  port.postMessage(message);
  Atomics.add(answered, 0, 1);
  Atomics.notify(answered, 0);
}

port.on('message', ({ seq, request }) => {
  let done = false;
  const resolvers = [];
  const finish = (message) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    for (const resolver of resolvers) resolver.cancel();
    answer({ seq, ...message });
  };
  const fail = (e) => {
    const { name, code, message } = e || {};
    finish({ error: { name: String(name), code, message: String(message) } });
  };
  const timer = setTimeout(() => {
    req.destroy();
    finish({ error: { name: 'TimeoutError', message: 'the request timed out' } });
  }, Math.max(0, request.timeoutMs));
  let req;
  try {
    const url = new URL(request.url);
    const lib = url.protocol === 'https:' ? https : http;
    const body = Buffer.from(request.body, 'utf8');
    const lookupFn = (hostname, options, callback) =>
      lookup(hostname, options, callback, request.timeoutMs, resolvers);
    const via = request.tunnel
      ? tunnelled(request.tunnel, request.timeoutMs, lookupFn)
      : request.via || {};
    req = lib.request(url, {
      agent: false,
      lookup: lookupFn,
      ...(request.trusted && url.protocol === 'https:' ? { ca: request.trusted } : {}),
      ...via,
      method: request.method,
      headers: { ...request.headers, 'content-length': String(body.length), ...via.headers },
    });
    req.on('error', fail);
    req.on('response', (res) => {
      let text = '';
      let long = false;
      const respond = (whole) => {
        const retryAfter = res.headers['retry-after'];
        finish({
          response: {
            statusCode: res.statusCode || 0,
            headers: { 'retry-after': typeof retryAfter === 'string' ? retryAfter : null },
            body: whole || text !== '' ? text.slice(0, maxBodyChars) : undefined,
            ...(whole && !long && text.length <= maxBodyChars ? {} : { truncated: true }),
          },
        });
      };
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        if (text.length < maxBodyChars) text += chunk;
        else long = true;
      });
      res.on('end', () => respond(true));
      res.on('error', () => respond(false));
      res.on('close', () => respond(false));
    });
    req.end(body);
  } catch (e) {
    fail(e);
  }
});
`;

/** How much sooner than the caller's time-out the worker gives up, to say so in time. */
const ANSWER_SLACK_MS = 25;

/**
 * Starts the worker thread that `request` hands its requests to. The first request waits for
 * the thread to start too (some tens of milliseconds).
 *
 * @example
 * const requester = openBlockingRequester();
 * try {
 *   const response = requester.request(reportRequest(options, report)); // blocks
 * } finally {
 *   requester.close();
 * }
 */
export function openBlockingRequester(): BlockingRequester {
  const signal = new SharedArrayBuffer(4);
  const answered = new Int32Array(signal);
  const { port1, port2 } = new MessageChannel();
  // Without the host's preloads (`-r`, or `--require` in NODE_OPTIONS): they would run again in
  // the worker, print, or start a second reporter on the same queue.
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { port: port2, signal, maxBodyChars: MAX_BODY_CHARS },
    transferList: [port2],
    execArgv: [],
    env,
  });
  worker.unref();
  port1.unref();
  let seq = 0;
  let seen = 0;
  return {
    request(request) {
      const mine = ++seq;
      const { signal: _signal, ca, proxy, ...plain } = request;
      // The worker trusts what the SDK's own agents trust (http-request.ts says what that is), and
      // goes where they would: a tunnel through the proxy, or the proxy itself.
      const trusted = ca === undefined ? undefined : trustedWith(ca);
      const route = proxy === undefined ? {} : proxyRoute(new URL(request.url), proxy);
      const timeoutMs = Math.max(0, request.timeoutMs);
      const deadline = monotonicNow() + timeoutMs;
      const workerTimeoutMs = Math.max(1, Math.floor(timeoutMs - ANSWER_SLACK_MS));
      port1.postMessage({
        seq: mine,
        request: { ...plain, ...route, trusted, timeoutMs: workerTimeoutMs },
      });
      for (;;) {
        // Answers to earlier requests that timed out here may still come: skip them.
        const message = receiveMessageOnPort(port1)?.message as WorkerAnswer | undefined;
        if (message) {
          seen++;
          if (message.seq !== mine) continue;
          if ('response' in message) return message.response;
          throw Object.assign(new Error(message.error.message), message.error);
        }
        const left = deadline - monotonicNow();
        if (left <= 0) {
          throw Object.assign(new Error('the request timed out'), { name: 'TimeoutError' });
        }
        Atomics.wait(answered, 0, seen, left);
      }
    },
    close() {
      port1.close();
      void worker.terminate().catch(() => undefined);
    },
  };
}
