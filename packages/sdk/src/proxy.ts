import type http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { bareHost } from '@jcs/protocol';
import { clearTimeout, setTimeout } from './timers';

export { bareHost, chooseProxy, proxyUrl, type ProxyChoice } from '@jcs/protocol';

/**
 * Reports through an HTTP proxy: many offices reach the internet only through one. A proxy
 * carries an https:// endpoint's requests in a CONNECT tunnel, so TLS still runs from the SDK to
 * the collector and the proxy sees only the collector's host name; an http:// endpoint's
 * requests (loopback never goes through a proxy, anything else only with
 * allowInsecureTransport) are sent to the proxy whole, as for any HTTP client.
 */

/**
 * The CONNECT handshake, as JavaScript source: the crash path's worker runs it from its eval'd
 * source (blocking-request.ts), and this module compiles the same text once, so there is one
 * handshake to read and to mend. It connects to the proxy, asks for a tunnel to `authority`
 * (`host:port`, with `authorization` as its Proxy-Authorization where the proxy URL holds
 * credentials), and once the proxy answers 200 starts TLS inside it (`tlsOptions`) and hands
 * over the TLS socket; any other answer is an error whose code says the status
 * (`PROXY_HTTP_407`: the proxy wants credentials). The socket is unref'd: a tunnel being opened
 * never keeps the host process alive.
 */
export const OPEN_TUNNEL_SOURCE = `function openTunnel(o, callback) {
  const { net, tls, authority, authorization, lookup, timeoutMs, tlsOptions } = o;
  const proxy = new URL(o.proxy);
  const socket = net.connect({
    host: proxy.hostname.replace(/^\\[(.*)\\]$/, '$1'),
    port: Number(proxy.port) || 80,
    lookup,
  });
  socket.unref();
  const chunks = [];
  let settled = false;
  const settle = (error) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.removeListener('readable', onReadable);
    socket.removeListener('error', settle);
    socket.removeListener('end', onEnd);
    if (error) {
      socket.destroy();
      return callback(error);
    }
    let secure;
    try {
      secure = tls.connect({ ...tlsOptions, socket });
    } catch (e) {
      // Called from the socket's events: a throw here would reach the host's process.
      socket.destroy();
      return callback(e);
    }
    callback(null, secure);
  };
  const failure = (code, message) => Object.assign(new Error(message), { code });
  // The request's own time-out does not reach a tunnel still being opened: this one ends it.
  const timer = setTimeout(
    () => settle(failure('PROXY_TIMEOUT', 'the proxy did not answer in time')),
    Math.max(1, timeoutMs),
  );
  timer.unref();
  const onEnd = () => settle(failure('PROXY_CLOSED', 'the proxy closed the connection'));
  const onReadable = () => {
    let chunk;
    while ((chunk = socket.read()) !== null) {
      chunks.push(chunk);
      const head = Buffer.concat(chunks);
      // The head ends at an empty line; some proxies end their lines with LF alone.
      const crlf = head.indexOf('\\r\\n\\r\\n');
      const lf = head.indexOf('\\n\\n');
      const end = crlf !== -1 && (lf === -1 || crlf < lf) ? crlf : lf;
      const after = end === crlf ? end + 4 : end + 2;
      if (end === -1) {
        if (head.length > 16384) settle(failure('PROXY_BAD_ANSWER', 'the proxy answered no HTTP'));
        continue;
      }
      const status = /^HTTP\\/1\\.[01] (\\d{3})/.exec(head.toString('latin1', 0, end));
      if (!status) return settle(failure('PROXY_BAD_ANSWER', 'the proxy answered no HTTP'));
      if (status[1] !== '200') {
        return settle(failure('PROXY_HTTP_' + status[1], 'the proxy answered ' + status[1] + ' to CONNECT'));
      }
      if (after < head.length) socket.unshift(head.subarray(after));
      return settle(null);
    }
  };
  socket.on('readable', onReadable);
  socket.on('error', settle);
  socket.on('end', onEnd);
  const credentials = authorization ? 'Proxy-Authorization: ' + authorization + '\\r\\n' : '';
  socket.write('CONNECT ' + authority + ' HTTP/1.1\\r\\nHost: ' + authority + '\\r\\n' + credentials + '\\r\\n');
}`;

type OpenTunnel = (
  o: {
    net: typeof net;
    tls: typeof tls;
    proxy: string;
    authority: string;
    authorization: string | undefined;
    lookup: net.LookupFunction | undefined;
    timeoutMs: number;
    tlsOptions: tls.ConnectionOptions;
  },
  callback: (error: Error | null, socket?: tls.TLSSocket) => void,
) => void;

// The timers as the SDK found them (timers.ts), not whatever the host has put in their place since.
const openTunnel = new Function('setTimeout', 'clearTimeout', `return ${OPEN_TUNNEL_SOURCE}`)(
  setTimeout,
  clearTimeout,
) as OpenTunnel;

/** A CONNECT tunnel to ask a proxy for: plain data, so that it can cross to a worker thread. */
export interface Tunnel {
  /** the proxy's URL */
  proxy: string;
  /** `host:port` of the collector */
  authority: string;
  /** the Proxy-Authorization header's value, where the proxy URL holds credentials */
  authorization?: string;
  /** the collector's name for TLS (none for an IP address) */
  servername?: string;
}

/** `host:port` for a CONNECT line: an IPv6 address in brackets. */
export function authorityOf(host: string, port: number | string): string {
  return `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
}

/** The `Proxy-Authorization` header's value for the proxy URL's credentials, or undefined. */
export function proxyAuthorization(proxyHref: string): string | undefined {
  const proxy = new URL(proxyHref);
  if (proxy.username === '' && proxy.password === '') return undefined;
  const credentials = `${decodeLeniently(proxy.username)}:${decodeLeniently(proxy.password)}`;
  return `Basic ${Buffer.from(credentials).toString('base64')}`;
}

/**
 * Percent-decoding as curl does it: escapes decode, and a `%` that starts none (`50%off`) stays
 * as it is, rather than making every request fail.
 */
function decodeLeniently(text: string): string {
  return text.replace(/(?:%[0-9a-f]{2})+/gi, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run; // not UTF-8: kept as written
    }
  });
}

/**
 * What to do about a request the proxy refused, by the `send_failed` reason; undefined for any
 * other failure. Shared by the library's diagnostic and `jcs-report`'s message.
 *
 * @example
 * proxyAdvice('PROXY_HTTP_407'); // 'give the proxy's user name and password in its URL ...'
 */
export function proxyAdvice(reason: string): string | undefined {
  if (reason === 'PROXY_HTTP_407' || reason.startsWith('HTTP 407')) {
    return "give the proxy's user name and password in its URL (http://user:password@host:port), percent-encoded";
  }
  if (/^PROXY_HTTP_\d{3}$/.test(reason)) {
    return "ask whoever runs the proxy to let it through to the collector's host and port, or name that host in NO_PROXY if it can be reached directly";
  }
  if (reason.startsWith('PROXY_')) {
    return 'check the proxy setting (the proxy option, or HTTPS_PROXY): it did not answer as an HTTP proxy';
  }
  return undefined;
}

/**
 * A request's option that TunnelAgent reads (Node hands the request's options to the agent): how
 * long the tunnel may take to open, the request's own time-out.
 */
export interface TunnelTimeout {
  tunnelTimeoutMs?: number;
}

const DEFAULT_TUNNEL_TIMEOUT_MS = 10_000;

/**
 * An https.Agent whose connections are CONNECT tunnels through `proxyHref`, with TLS to the
 * collector inside them; kept alive and reused like the SDK's other agents.
 *
 * @example
 * https.request(url, { agent: new TunnelAgent('http://proxy.office.example:3128/', { keepAlive: true }) });
 */
export class TunnelAgent extends https.Agent {
  private readonly authorization: string | undefined;

  constructor(
    private readonly proxyHref: string,
    options: https.AgentOptions,
    private readonly lookup?: net.LookupFunction,
  ) {
    super(options);
    this.authorization = proxyAuthorization(proxyHref);
  }

  // Node's Agent waits for the callback when createConnection returns nothing.
  override createConnection(
    options: http.RequestOptions & tls.ConnectionOptions & TunnelTimeout,
    callback?: (error: Error | null, stream: Duplex) => void,
  ): undefined {
    const host = bareHost(options.host ?? 'localhost');
    const tunnel = {
      net,
      tls,
      proxy: this.proxyHref,
      authority: authorityOf(host, options.port ?? 443),
      authorization: this.authorization,
      lookup: this.lookup,
      timeoutMs: options.tunnelTimeoutMs ?? DEFAULT_TUNNEL_TIMEOUT_MS,
      tlsOptions: { ...options, servername: options.servername ?? host },
    };
    openTunnel(tunnel, (e, secure) => {
      if (e || !secure) callback?.(e ?? new Error('no tunnel'), undefined as unknown as Duplex);
      else callback?.(null, secure);
    });
    return undefined;
  }
}
