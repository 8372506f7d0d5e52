import type http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { isLoopbackHost } from '@jcs/protocol';

/**
 * Reports through an HTTP proxy: many offices reach the internet only through one. A proxy
 * carries an https:// endpoint's requests in a CONNECT tunnel, so TLS still runs from the SDK to
 * the collector and the proxy sees only the collector's host name; an http:// endpoint's
 * requests (loopback never goes through a proxy, anything else only with
 * allowInsecureTransport) are sent to the proxy whole, as for any HTTP client.
 */

/** Which proxy carries the requests, and why an environment setting was not used. */
export interface ProxyChoice {
  /** the proxy's URL (`http://[user:password@]host:port/`); undefined: connect directly */
  url?: string;
  /**
   * Why a proxy named in the environment is not used (never its value, which may hold a
   * password): the requests go directly, and the reporter says so once in a diagnostic.
   */
  ignored?: string;
}

/**
 * The proxy for requests to `target`: the `proxy` option, else `https_proxy` or `HTTPS_PROXY`
 * for an https:// endpoint and `http_proxy` for an http:// one, as curl reads them (never
 * `HTTP_PROXY`, which a CGI request's `Proxy:` header can set). None with `proxy: false`, for a
 * loopback endpoint, or for a host that `no_proxy` or `NO_PROXY` names (a name also covers its
 * subdomains, an IP address only itself; `*` covers all; `host:port` only that port).
 *
 * @example
 * chooseProxy(new URL('https://errors.example/v1/reports'), undefined, {
 *   HTTPS_PROXY: 'http://proxy.office.example:3128',
 * }); // { url: 'http://proxy.office.example:3128/' }
 */
export function chooseProxy(
  target: URL,
  option: string | false | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ProxyChoice {
  if (option === false || isLoopbackHost(target.hostname)) return {};
  const names = target.protocol === 'https:' ? ['https_proxy', 'HTTPS_PROXY'] : ['http_proxy'];
  // As curl: a variable set but empty counts as not set.
  const name = names.find((n) => env[n]?.trim()) ?? names[0];
  const raw = option ?? env[name];
  if (raw === undefined || raw.trim() === '') return {};
  if (bypassed(target, env.no_proxy?.trim() || env.NO_PROXY || '')) return {};
  const url = proxyUrl(raw);
  if (url !== undefined) return { url };
  // An explicit option was checked by createReporter; only the environment gets here.
  return { ignored: `${name} is not an http:// proxy URL, so reports go directly` };
}

/**
 * The proxy URL `raw` names, normalised, or undefined when it is not an `http://` proxy: a bare
 * `host:port` means http://, and a path is ignored, as curl takes them. HTTPS to the proxy
 * itself is not supported.
 *
 * @example
 * proxyUrl('proxy.office.example:3128'); // 'http://proxy.office.example:3128/'
 */
export function proxyUrl(raw: string): string | undefined {
  const text = raw.trim();
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' || url.hostname === '') return undefined;
  url.pathname = '/';
  url.search = '';
  url.hash = '';
  return url.href;
}

/**
 * Whether `noProxy` (curl's `no_proxy` list) names the target's host: a name, with its
 * subdomains, trailing dots aside; an IP address only itself.
 */
function bypassed(target: URL, noProxy: string): boolean {
  const host = bareHost(target.hostname.toLowerCase()).replace(/\.$/, '');
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  return noProxy
    .split(/[\s,]+/)
    .filter((entry) => entry !== '')
    .some((entry) => {
      if (entry === '*') return true;
      const { name, port: only } = splitHostPort(entry.toLowerCase());
      if (only !== undefined && only !== port) return false;
      const domain = name.replace(/^\*?\./, '').replace(/\.$/, '');
      if (net.isIP(host)) return host === domain;
      return host === domain || host.endsWith(`.${domain}`);
    });
}

function splitHostPort(entry: string): { name: string; port?: string } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { name: bracketed[1], port: bracketed[2] };
  // More than one colon and no brackets: an IPv6 address without a port.
  const parts = entry.split(':');
  if (parts.length === 2 && /^\d+$/.test(parts[1])) return { name: parts[0], port: parts[1] };
  return { name: entry };
}

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

const openTunnel = new Function(`return ${OPEN_TUNNEL_SOURCE}`)() as OpenTunnel;

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

/** A URL's host name without the brackets of an IPv6 address (`[::1]` is `::1`). */
export function bareHost(hostname: string): string {
  return hostname.replace(/^\[(.*)\]$/, '$1');
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
