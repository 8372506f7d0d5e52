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
 * for an https:// endpoint and `http_proxy` or `HTTP_PROXY` for an http:// one, as curl reads
 * them. None with `proxy: false`, for a loopback endpoint, or for a host that `no_proxy` or
 * `NO_PROXY` names (a name also covers its subdomains; `*` covers all; `host:port` only that
 * port).
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
  const variable = target.protocol === 'https:' ? 'https_proxy' : 'http_proxy';
  const fromEnv = option === undefined;
  const name = env[variable] ? variable : variable.toUpperCase();
  const raw = fromEnv ? env[name] : option;
  if (raw === undefined || raw.trim() === '') return {};
  if (bypassed(target, env.no_proxy ?? env.NO_PROXY ?? '')) return {};
  const url = proxyUrl(raw);
  if (url !== undefined) return { url };
  // An explicit option was checked by createReporter; only the environment gets here.
  return { ignored: `${name} is not an http:// proxy URL, so reports go directly` };
}

/**
 * The proxy URL `raw` names, normalised, or undefined when it is not an `http://` proxy: a bare
 * `host:port` means http://, as curl takes it. HTTPS to the proxy itself is not supported.
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
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') return undefined;
  return url.href;
}

/** Whether `noProxy` (curl's `no_proxy` list) names the target's host. */
function bypassed(target: URL, noProxy: string): boolean {
  const host = target.hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  return noProxy
    .split(/[\s,]+/)
    .filter((entry) => entry !== '')
    .some((entry) => {
      if (entry === '*') return true;
      const { name, port: only } = splitHostPort(entry.toLowerCase());
      if (only !== undefined && only !== port) return false;
      const domain = name.replace(/^\*?\./, '');
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
 * credentials), and hands over the socket once the proxy answers 200; any other answer is an
 * error whose code says the status (`PROXY_HTTP_407`: the proxy wants credentials). The socket
 * is unref'd: a tunnel being opened never keeps the host process alive.
 */
export const OPEN_TUNNEL_SOURCE = `function openTunnel(net, proxyHref, authority, authorization, lookup, callback) {
  const proxy = new URL(proxyHref);
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
    socket.removeListener('readable', onReadable);
    socket.removeListener('error', settle);
    socket.removeListener('end', onEnd);
    if (error) {
      socket.destroy();
      callback(error);
    } else {
      callback(null, socket);
    }
  };
  const failure = (code, message) => Object.assign(new Error(message), { code });
  const onEnd = () => settle(failure('PROXY_CLOSED', 'the proxy closed the connection'));
  const onReadable = () => {
    let chunk;
    while ((chunk = socket.read()) !== null) {
      chunks.push(chunk);
      const head = Buffer.concat(chunks);
      const end = head.indexOf('\\r\\n\\r\\n');
      if (end === -1) {
        if (head.length > 16384) settle(failure('PROXY_BAD_ANSWER', 'the proxy answered no HTTP'));
        continue;
      }
      const status = /^HTTP\\/1\\.[01] (\\d{3})/.exec(head.toString('latin1', 0, end));
      if (!status) return settle(failure('PROXY_BAD_ANSWER', 'the proxy answered no HTTP'));
      if (status[1] !== '200') {
        return settle(failure('PROXY_HTTP_' + status[1], 'the proxy answered ' + status[1] + ' to CONNECT'));
      }
      if (end + 4 < head.length) socket.unshift(head.subarray(end + 4));
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
  netModule: typeof net,
  proxyHref: string,
  authority: string,
  authorization: string | undefined,
  lookup: net.LookupFunction | undefined,
  callback: (error: Error | null, socket?: net.Socket) => void,
) => void;

const openTunnel = new Function(`return ${OPEN_TUNNEL_SOURCE}`)() as OpenTunnel;

/** `host:port` for a CONNECT line: an IPv6 address in brackets. */
export function authorityOf(host: string, port: number | string): string {
  return `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
}

/** The `Proxy-Authorization` header's value for the proxy URL's credentials, or undefined. */
export function proxyAuthorization(proxyHref: string): string | undefined {
  const proxy = new URL(proxyHref);
  if (proxy.username === '' && proxy.password === '') return undefined;
  const user = decodeURIComponent(proxy.username);
  const password = decodeURIComponent(proxy.password);
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

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
    options: http.RequestOptions & tls.ConnectionOptions,
    callback?: (error: Error | null, stream: Duplex) => void,
  ): undefined {
    const host = (options.host ?? 'localhost').replace(/^\[(.*)\]$/, '$1');
    const authority = authorityOf(host, options.port ?? 443);
    openTunnel(net, this.proxyHref, authority, this.authorization, this.lookup, (e, socket) => {
      if (e || !socket) {
        callback?.(e ?? new Error('no tunnel'), undefined as unknown as Duplex);
        return;
      }
      let secure: tls.TLSSocket;
      try {
        secure = tls.connect({ ...options, socket, servername: options.servername ?? host });
      } catch (error) {
        // Called from the socket's events: a throw here would reach the host's process.
        socket.destroy();
        callback?.(error as Error, undefined as unknown as Duplex);
        return;
      }
      callback?.(null, secure);
    });
    return undefined;
  }
}
