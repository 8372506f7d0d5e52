import net from 'node:net';
import { isLoopbackHost } from './loopback';

/**
 * Which proxy an HTTP client goes through, read as curl reads it: the SDK's reporter and
 * `jcs-errors` both ask here, so a `no_proxy` entry means the same to both.
 */

/** Which proxy carries the requests, and why an environment setting was not used. */
export interface ProxyChoice {
  /** the proxy's URL (`http://[user:password@]host:port/`); undefined: connect directly */
  url?: string;
  /**
   * The environment variable that names a proxy not used, as it is no `http://` proxy URL (its
   * value is never repeated: it may hold a password): the requests go directly, and the client
   * says so once.
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
  return { ignored: name };
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

/** A URL's host name without the brackets of an IPv6 address (`[::1]` is `::1`). */
export function bareHost(hostname: string): string {
  return hostname.replace(/^\[(.*)\]$/, '$1');
}
