import type { Report } from '@jcs/protocol';
import { parseRetryAfter } from './backoff';

/** One HTTP request, as the transport hands it to `makeRequest`. */
export interface TransportRequest {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}

/** What `makeRequest` answers. Network errors and timeouts are thrown (or rejected). */
export interface TransportResponse {
  statusCode: number;
  headers?: { 'retry-after'?: string | null };
  /** the start of the response body, for the error code in a diagnostic */
  body?: string;
}

/** Performs one HTTP request. Inject your own to route reports through anything you like. */
export type MakeRequest = (request: TransportRequest) => Promise<TransportResponse>;

export interface TransportOptions {
  /** the full URL of `POST /v1/reports` */
  url: string;
  token: string;
  timeoutMs: number;
}

/** How one delivery attempt ended, and so what the queue does with the report. */
export type SendOutcome =
  /** 200 or 202: delete it */
  | { kind: 'delivered'; status: number }
  /** a 4xx that retrying cannot mend: delete it, with a diagnostic */
  | { kind: 'rejected'; status: number; code?: string }
  /** 413: send it again without the dump */
  | { kind: 'too_large'; status: 413 }
  /** 408, 429, 503: wait as told (null: not told; back off) */
  | { kind: 'retry_after'; status: number; delayMs: number | null }
  /** network error, timeout or another 5xx: back off */
  | { kind: 'failed'; status?: number; reason: string };

export interface Transport {
  send(report: Report): Promise<SendOutcome>;
}

/**
 * The transport: builds the request, hands it to `makeRequest` (the HTTP call is injected, as in
 * sentry-javascript's `createTransport`) and classifies the answer. Never rejects.
 *
 * @example
 * const transport = createTransport(
 *   { url: 'https://errors.example/v1/reports', token, timeoutMs: 10_000 },
 *   async (req) => ({ statusCode: 202 }), // a stub, for tests
 * );
 */
export function createTransport(
  options: TransportOptions,
  makeRequest: MakeRequest = fetchRequest,
): Transport {
  return {
    async send(report) {
      let response: TransportResponse;
      try {
        response = await makeRequest({
          url: options.url,
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${options.token}`,
          },
          body: JSON.stringify(report),
          timeoutMs: options.timeoutMs,
        });
      } catch (error) {
        return { kind: 'failed', reason: networkReason(error) };
      }
      return classify(response);
    },
  };
}

/** Maps a collector answer to what the queue must do (contract section 1, "Answers"). */
export function classify(response: TransportResponse): SendOutcome {
  const status = response.statusCode;
  if (status === 200 || status === 202) return { kind: 'delivered', status };
  if (status === 413) return { kind: 'too_large', status };
  if (status === 408 || status === 429 || status === 503) {
    return {
      kind: 'retry_after',
      status,
      delayMs: parseRetryAfter(response.headers?.['retry-after']),
    };
  }
  if (status >= 400 && status < 500)
    return { kind: 'rejected', status, code: errorCode(response.body) };
  return { kind: 'failed', status, reason: `HTTP ${status}` };
}

function errorCode(body: string | undefined): string | undefined {
  if (!body) return undefined;
  try {
    const code = (JSON.parse(body) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' && /^[a-z_]{1,40}$/.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

function networkReason(error: unknown): string {
  try {
    const e = error as { name?: unknown; code?: unknown; cause?: { code?: unknown } };
    if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'timed out';
    const code = e?.cause?.code ?? e?.code;
    if (typeof code === 'string' && /^[A-Z_0-9]{2,40}$/.test(code)) return code;
    return 'network error';
  } catch {
    return 'network error';
  }
}

const MAX_BODY_CHARS = 4096;

/**
 * The default `makeRequest`: Node's global fetch, with the timeout covering the whole exchange.
 * Redirects are refused: a redirect could lead the report to a plain-HTTP or unexpected host.
 */
export const fetchRequest: MakeRequest = async (request) => {
  const response = await fetch(request.url, {
    method: request.method,
    headers: request.headers,
    body: request.body,
    redirect: 'error',
    signal: AbortSignal.timeout(request.timeoutMs),
  });
  let body = '';
  try {
    body = (await response.text()).slice(0, MAX_BODY_CHARS);
  } catch {
    // the status is what matters
  }
  return {
    statusCode: response.status,
    headers: { 'retry-after': response.headers.get('retry-after') },
    body,
  };
};
