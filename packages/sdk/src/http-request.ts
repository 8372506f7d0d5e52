import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { createSharedLookup } from './lookup';
import {
  authorityOf,
  bareHost,
  proxyAuthorization,
  TunnelAgent,
  type Tunnel,
  type TunnelTimeout,
} from './proxy';
import { clearTimeout, setTimeout } from './timers';
import type { MakeRequest, TransportResponse } from './transport';

/*
 * The SDK's own `makeRequest`: the report's POST over node:http and node:https, through a proxy
 * or to a private CA where the options say, with a timeout and a body kept within bounds.
 * transport.ts decides what an answer means; this file only carries the request.
 */

/** How much of an answer's body is kept: enough for the error code and its details. */
export const MAX_BODY_CHARS = 4096;

/** Shared by every reporter in the process: one look-up per collector name at a time. */
const lookup = createSharedLookup();

const agents = {
  'http:': new http.Agent({ keepAlive: true }),
  'https:': new https.Agent({ keepAlive: true }),
};

/**
 * One agent per private CA and proxy given. A `ca` replaces the trusted set, so Node's own roots
 * (and NODE_EXTRA_CA_CERTS's) are given with it; in one secure context made once, as an agent
 * given `ca` parses all 140-odd roots again for every connection (30-50 ms of the host's thread).
 * An http:// endpoint's requests through a proxy go to the proxy on the plain agent.
 */
const httpsAgents = new Map<string, https.Agent>();
function agentFor(protocol: 'http:' | 'https:', ca?: string, proxy?: string): http.Agent {
  if (protocol === 'http:' || (ca === undefined && proxy === undefined)) return agents[protocol];
  const key = `${proxy ?? ''}\0${ca ?? ''}`;
  let agent = httpsAgents.get(key);
  if (!agent) {
    const options = {
      keepAlive: true,
      ...(ca === undefined
        ? {}
        : { secureContext: tls.createSecureContext({ ca: trustedWith(ca) }) }),
    };
    agent =
      proxy === undefined ? new https.Agent(options) : new TunnelAgent(proxy, options, lookup);
    httpsAgents.set(key, agent);
  }
  return agent;
}

/**
 * Where a request goes: the endpoint itself, or, for an http:// endpoint with a proxy, the proxy,
 * asked for the whole URL (the header names the proxy's credentials, if any).
 */
function destination(url: URL, proxy: string | undefined): http.RequestOptions {
  return proxy === undefined ? {} : (proxyRoute(url, proxy).via ?? {});
}

/**
 * How a request to `url` goes through `proxy`, as plain data (the crash path's worker gets it
 * in a message): for https://, the tunnel to ask for; for http://, the request options that send
 * it to the proxy whole.
 */
export function proxyRoute(
  url: URL,
  proxy: string,
): { tunnel?: Tunnel; via?: http.RequestOptions & { headers: Record<string, string> } } {
  const authorization = proxyAuthorization(proxy);
  if (url.protocol === 'https:') {
    const host = bareHost(url.hostname);
    return {
      tunnel: {
        proxy,
        authority: authorityOf(host, url.port || 443),
        authorization,
        servername: net.isIP(host) ? undefined : host,
      },
    };
  }
  const via = new URL(proxy);
  return {
    via: {
      hostname: bareHost(via.hostname),
      port: Number(via.port) || 80,
      path: url.href,
      headers: {
        host: url.host,
        ...(authorization ? { 'proxy-authorization': authorization } : {}),
      },
    },
  };
}

/**
 * What a connection given `ca` trusts: `ca` replaces Node's set, so its roots and
 * NODE_EXTRA_CA_CERTS's go with it.
 */
export function trustedWith(ca: string): string[] {
  return [...tls.rootCertificates, ...extraCaCerts(), ca];
}

/** The certificates of NODE_EXTRA_CA_CERTS, which Node adds to its own roots at start. */
function extraCaCerts(): string[] {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (!file) return [];
  try {
    return [fs.readFileSync(file, 'utf8')];
  } catch {
    return []; // as Node: a file it cannot read adds nothing
  }
}

function namedError(name: string, message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

/**
 * The default `makeRequest`: node:http or node:https, with the timeout covering the whole
 * exchange. The socket is unref'd and so is the timer: a request in flight never keeps the host
 * process alive (when the host is done, the process ends; an unsent report stays queued). The
 * request's `signal` destroys the socket at once. Redirects are not followed: a redirect could
 * lead the report to a plain-HTTP or unexpected host (it is a failure, retried later).
 *
 * @example
 * // A transport that logs each attempt, then sends as the SDK would:
 * const transport = (o) => createTransport(o, (req) => (log(req.url), httpRequest(req)));
 */
export const httpRequest: MakeRequest = (request) =>
  new Promise<TransportResponse>((resolve, reject) => {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch (e) {
      reject(e);
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      reject(new TypeError('only http: and https: URLs are supported'));
      return;
    }
    if (request.signal?.aborted) {
      reject(namedError('AbortError', 'the request was aborted'));
      return;
    }
    const lib = url.protocol === 'https:' ? https : http;
    const body = Buffer.from(request.body, 'utf8');
    let settled = false;
    let req: http.ClientRequest | null = null;
    const onAbort = () => finish(namedError('AbortError', 'the request was aborted'));
    const finish = (error: unknown, response?: TransportResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onAbort);
      if (response) {
        resolve(response);
        return;
      }
      req?.destroy();
      reject(error);
    };
    const timer = setTimeout(
      () => finish(namedError('TimeoutError', 'the request timed out')),
      Math.max(0, request.timeoutMs),
    );
    timer.unref();
    request.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const via = destination(url, request.proxy);
      const options: http.RequestOptions & TunnelTimeout = {
        ...via,
        method: request.method,
        headers: { ...request.headers, 'content-length': String(body.length), ...via.headers },
        agent: agentFor(url.protocol, request.ca, request.proxy),
        lookup,
        tunnelTimeoutMs: request.timeoutMs,
      };
      req = lib.request(url, options);
    } catch (e) {
      finish(e);
      return;
    }
    // The agent refs a socket it reuses: unref it again for every request.
    req.on('socket', (socket) => socket.unref());
    req.on('error', (e) => finish(e));
    req.on('response', (res) => {
      let text = '';
      // More came than the SDK reads (the collector's answers are far shorter).
      let long = false;
      const answer = (whole: boolean): TransportResponse => {
        const retryAfter = res.headers['retry-after'];
        return {
          statusCode: res.statusCode ?? 0,
          headers: { 'retry-after': typeof retryAfter === 'string' ? retryAfter : null },
          // An answer cut off before its body has none to judge; a whole answer's empty body
          // is what a server says that is not the collector (which always sends one).
          body: whole || text !== '' ? text.slice(0, MAX_BODY_CHARS) : undefined,
          ...(whole && !long && text.length <= MAX_BODY_CHARS ? {} : { truncated: true }),
        };
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (text.length < MAX_BODY_CHARS) text += chunk;
        else long = true;
      });
      res.on('end', () => finish(undefined, answer(true)));
      // The status is what matters: an answer cut short after it still counts.
      res.on('error', () => finish(undefined, answer(false)));
      res.on('close', () => finish(undefined, answer(false)));
    });
    req.end(body);
  });

/**
 * The former name of `httpRequest`, kept for code that injects it. (It used the global fetch,
 * whose socket kept the host process alive while a request was in flight.)
 *
 * @deprecated Use `httpRequest`, the same function.
 */
export const fetchRequest: MakeRequest = httpRequest;
