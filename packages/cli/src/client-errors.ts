/**
 * Turning what went wrong with a request to the collector into one line that says what to do,
 * with the contract's exit code: the client's only way of failing.
 */

import { isErrorCode, NO_ROUTE_MESSAGE, tlsFailure, type ErrorBody } from '@jcs/protocol';
import type { Role } from './client';
import {
  BadRequestError,
  ForbiddenError,
  NotFoundError,
  ServerError,
  UnauthorisedError,
  UnreachableError,
} from './errors';
import { oneLine } from './render/text';

/** What the messages name: the server as the user wrote it, and where the token came from. */
export interface ClientLabel {
  serverLabel: string;
  hasToken: boolean;
  tokenHint: string;
  /** `host:port` of the HTTP proxy the request went through (never its credentials) */
  proxyLabel?: string;
}

/**
 * The line for a request that got no answer: what went wrong on the way, and what to do.
 *
 * @example
 * throw unreachableError(err, 30_000, client); // cannot reach the collector at ...: is it running? ...
 */
export function unreachableError(
  err: unknown,
  timeoutMs: number,
  client: ClientLabel,
): UnreachableError {
  const where = client.serverLabel;
  // Duck-typed: fetch's errors may come from another realm (Jest's sandbox, for one).
  if ((err as { name?: unknown } | null)?.name === 'TimeoutError') {
    const limit = timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)}s`;
    return new UnreachableError(
      `the collector at ${where} did not answer within ${limit}: check that it is healthy, then try again`,
      { cause: err },
    );
  }
  // fetch will not connect to the ports the Fetch standard blocks (6000, 6665-6669, 10080...),
  // though a collector can listen there; "is it running?" would send the engineer astray.
  if ((err as { cause?: { message?: unknown } } | null)?.cause?.message === 'bad port') {
    return new UnreachableError(
      `jcs-errors cannot connect to port ${new URL(client.serverLabel).port} of ${where}, a port Node's fetch blocks: serve the collector on another port (8080, say) and set --server to it`,
      { cause: err },
    );
  }
  const code = causeCode(err);
  if (client.proxyLabel !== undefined) {
    const proxied = proxyError(err, code, client.proxyLabel, where);
    if (proxied) return proxied;
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new UnreachableError(
      `cannot find the host of ${where}: check the address, set --server or JCS_ERRORS_SERVER`,
      { cause: err },
    );
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') {
    return new UnreachableError(
      `the server at ${where} does not speak TLS: use http:// if it is the collector, or check --server`,
      { cause: err },
    );
  }
  const tls = tlsFailure(code);
  if (tls === 'other-name') {
    return new UnreachableError(
      `the collector at ${where} presented a TLS certificate for another host name (${code}): set --server to a name the certificate is for`,
      { cause: err },
    );
  }
  if (tls === 'out-of-date') {
    return new UnreachableError(
      `the collector at ${where} presented a TLS certificate that is out of date (${code}): renew it on the collector (or check this machine's clock)`,
      { cause: err },
    );
  }
  // Untrusted (self-signed, a company's CA: tlsFailure's 'untrusted'), or refused for a reason
  // of its own: every such code names a certificate or TLS.
  if (code && /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO/.test(code)) {
    return new UnreachableError(
      `the collector at ${where} presented a TLS certificate that was refused (${code}): set NODE_EXTRA_CA_CERTS to its CA file, or check --server`,
      { cause: err },
    );
  }
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') {
    // A collector serving HTTPS hangs up on plain HTTP in just this way.
    const https = where.startsWith('http:') ? ' (if it serves HTTPS, use https://)' : '';
    return new UnreachableError(
      `the connection to the collector at ${where} broke before it answered${https}: try again; if it persists, check the collector's log`,
      { cause: err },
    );
  }
  return new UnreachableError(
    `cannot reach the collector at ${where}: is it running? set --server or JCS_ERRORS_SERVER`,
    { cause: err },
  );
}

/**
 * The line for a request the proxy did not carry: the proxy itself not reached, or refusing
 * (undici says the proxy's status in its message: `Proxy response (407) !== 200 when HTTP
 * Tunneling` for a tunnel, `Proxy Authentication Required (407)` for a request handed over).
 * Undefined for a failure past the proxy, said as without one.
 */
function proxyError(
  err: unknown,
  code: string | undefined,
  proxy: string,
  where: string,
): UnreachableError | undefined {
  const host = new URL(where).hostname;
  const direct = `or set NO_PROXY=${host} to connect directly`;
  // The proxy is what this machine connects to, and it looks the collector's name up itself.
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new UnreachableError(
      `cannot reach the proxy at ${proxy} (${code}) on the way to ${where}: check https_proxy, HTTPS_PROXY or http_proxy, ${direct}`,
      { cause: err },
    );
  }
  const status = /^Proxy.*\((\d{3})\)/.exec(deepestMessage(err))?.[1];
  if (status === undefined) return undefined;
  const what =
    status === '407'
      ? `asks for credentials (HTTP 407): give them, right, in the proxy's URL (http://user:password@${proxy})`
      : `did not carry the request to ${where} (HTTP ${status}): check --server, and whether the proxy lets this machine reach the collector`;
  return new UnreachableError(`the proxy at ${proxy} ${what}, ${direct}`, { cause: err });
}

/** The message of the innermost cause of an error. */
function deepestMessage(err: unknown): string {
  let current = err as { message?: unknown; cause?: unknown } | null | undefined;
  let message = '';
  for (let depth = 0; current && depth < 8; depth++) {
    if (typeof current.message === 'string') message = current.message;
    current = current.cause as typeof current;
  }
  return message;
}

/**
 * More than any collector's answer: the largest, a report with a 256 KiB dump or 500 groups, are
 * a few MiB.
 */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/**
 * The line for an answer over MAX_ANSWER_BYTES, which no collector sends.
 *
 * @example
 * throw tooLargeError(response, client);
 */
export function tooLargeError(response: Response, client: ClientLabel): ServerError {
  return new ServerError(
    `${client.serverLabel} answered with over ${MAX_ANSWER_BYTES / 1024 / 1024} MiB (HTTP ${response.status}), which no JCS collector does: check --server or JCS_ERRORS_SERVER, and any proxy in front of the collector`,
    response.status,
  );
}

/**
 * The line for an answer that is not the collector's (a proxy's page, another server).
 *
 * @example
 * throw notCollectorError(response, client);
 */
export function notCollectorError(response: Response, client: ClientLabel): ServerError {
  // The server's words, as a message is: one line, controls replaced, not a page long.
  const type = sentence(
    (response.headers.get('content-type') ?? 'no content type').split(';')[0] ?? '',
  );
  return new ServerError(
    `${client.serverLabel} did not answer like a JCS collector (HTTP ${response.status}, ${type}): check --server or JCS_ERRORS_SERVER, and any proxy in front of the collector`,
    response.status,
  );
}

/**
 * The error for a collector's answer that is not a success, with the contract's exit code: 401
 * and 403 exit 3, 404 exits 4 where the request named a group or report (`namesOne`), 400 and
 * 413 exit 2, anything else 1.
 *
 * @example
 * throw failureError(response, await response.text(), 'engineer', client, true);
 */
export function failureError(
  response: Response,
  body: string,
  role: Role,
  client: ClientLabel,
  namesOne = false,
): ServerError | UnauthorisedError | ForbiddenError | NotFoundError | BadRequestError {
  const status = response.status;
  if (status >= 300 && status < 400) {
    // Headers and details are the server's words, as a message is: controls replaced.
    const location = oneLine(response.headers.get('location') ?? 'elsewhere');
    return new ServerError(
      `${client.serverLabel} redirects to ${location}: set --server to the collector's own address`,
      status,
    );
  }
  const error = parseErrorBody(body);
  // Every collector answer carries the error body; without it, something else answered.
  if (!error && status !== 401 && status !== 403) return notCollectorError(response, client);
  const said = error ? sentence(error.message) : '';
  if (!error) {
    // A 401 or 403 without the collector's error body: a proxy or a sign-in page in between, or
    // another server at --server. Still exit 3 (the contract's code for 401/403), but the token
    // is not the suspect: the collector never saw it.
    const Refusal = status === 401 ? UnauthorisedError : ForbiddenError;
    const proxy = client.proxyLabel ? `the proxy ${client.proxyLabel}` : 'any proxy on the way';
    return new Refusal(
      `${client.serverLabel} refused the request (HTTP ${status}) without a JCS collector's answer: check --server or JCS_ERRORS_SERVER, and ${proxy}`,
    );
  }
  if (status === 401) {
    if (!client.hasToken) {
      return new UnauthorisedError(
        'the collector needs a token: set --token or JCS_ERRORS_TOKEN, or "token" in ~/.config/jcs-errors/config.json',
      );
    }
    // Named, since a token is good only on the collector that made it: a wrong --server (the
    // default one, when JCS_ERRORS_SERVER was left unset) reads as a wrong token otherwise.
    return new UnauthorisedError(
      `the collector at ${client.serverLabel} refused the token: check ${client.tokenHint}, and that the token was made on that collector`,
    );
  }
  if (status === 403) {
    const article = role === 'admin' ? 'an admin' : 'an engineer or admin';
    return new ForbiddenError(
      `this needs ${article} token and the one given may not do it: use one made on the collector's machine by jcs-collector token create --name NAME --role ${role} --data-dir DIR`,
    );
  }
  // The collector's answer to a path it has no route for (--server has a wrong path in it), or
  // a 404 for a route every collector has (something else answered): not "no such group or
  // report" (exit 4) to a script.
  const noRoute = error?.code === 'not_found' && error.message === NO_ROUTE_MESSAGE;
  if (status === 404 && (noRoute || !namesOne)) {
    // A path is kept (a proxy may serve the collector under one), so it is the suspect if given.
    const hasPath = new URL(`${client.serverLabel}/`).pathname !== '/';
    return new ServerError(
      hasPath
        ? `${client.serverLabel} has no such route: check the path in --server (keep one only where a proxy serves the collector under it)`
        : `${client.serverLabel} has no such route: set --server to the collector's own address`,
      status,
    );
  }
  if (status === 404) return new NotFoundError(`not found: ${said || 'no such route'}`);
  if (status === 400) {
    const details = (error?.details ?? [])
      .map((d) => oneLine(`${String(d.path)} ${String(d.message)}`))
      .join('; ');
    return new BadRequestError(
      `the collector rejected the request: ${said}${details ? ` (${details})` : ''}; check the options`,
    );
  }
  if (status === 413) {
    // Only what was typed makes a body (an erasure's name, a version): a usage error, not a
    // failing server.
    return new BadRequestError(
      `the collector refused the request as too large${said ? ` (${said})` : ''}: give shorter values`,
    );
  }
  const wait = retryWait(response.headers.get('retry-after'));
  if (status === 429) {
    return new ServerError(`the collector is limiting requests: try again ${wait}`, status);
  }
  if (status === 503) {
    return new ServerError(`the collector cannot take this now: try again ${wait}`, status);
  }
  return new ServerError(
    `the collector failed (HTTP ${status}${said ? `: ${said}` : ''}): check its log, then try again`,
    status,
  );
}

function parseErrorBody(body: string): ErrorBody['error'] | undefined {
  try {
    const parsed = JSON.parse(body) as Partial<ErrorBody>;
    // A proxy's `{"error": {"message": "Bad gateway"}}` is not the collector's: its codes are
    // the catalogue's.
    if (parsed && typeof parsed.error?.message === 'string' && isErrorCode(parsed.error.code)) {
      return parsed.error;
    }
  } catch {
    // not JSON: the caller reports a server that is not the collector
  }
  return undefined;
}

/**
 * When to try again, from a Retry-After: seconds (the collector's) or an HTTP date (a proxy may
 * send one, RFC 9110), said in seconds either way; anything else is not repeated.
 */
function retryWait(header: string | null, now = Date.now()): string {
  const text = header?.trim() ?? '';
  if (/^\d{1,9}$/.test(text)) return `in ${Number(text)}s`;
  const at = /[a-z]/i.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(at)) return 'shortly';
  return `in ${Math.max(1, Math.ceil((at - now) / 1000))}s`;
}

/** The most of a server's sentence repeated: one line, not a page of a broken server's text. */
const MAX_SENTENCE = 300;

/**
 * A server sentence goes inside our line: drop its full stop and any line breaks, and replace
 * control characters, so a broken or hostile server (or proxy) cannot recolour the terminal.
 */
function sentence(text: string): string {
  const line = oneLine(text.replace(/\s+/g, ' ')).replace(/\.$/, '');
  return line.length > MAX_SENTENCE ? `${line.slice(0, MAX_SENTENCE)}…` : line;
}

function causeCode(err: unknown): string | undefined {
  let current = err as { code?: unknown; cause?: unknown } | null | undefined;
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
    if (typeof current.code === 'string') return current.code;
    current = current.cause as typeof current;
  }
  return undefined;
}
