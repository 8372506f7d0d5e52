import { isErrorCode, reportSchema, type Report } from '@jcs/protocol';
import { parseRetryAfter } from './backoff';
import { httpRequest, MAX_BODY_CHARS } from './http-request';

/** One HTTP request, as the transport hands it to `makeRequest`. */
export interface TransportRequest {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** PEM certificates of a CA to trust besides Node's own (the reporter's `ca` option) */
  ca?: string;
  /** the HTTP proxy to go through, `http://[user:password@]host:port/` (proxy.ts) */
  proxy?: string;
  /** aborted when the reporter is closed with this request in flight: give up at once */
  signal?: AbortSignal;
}

/** What `makeRequest` answers. Network errors and timeouts are thrown (or rejected). */
export interface TransportResponse {
  statusCode: number;
  headers?: { 'retry-after'?: string | null };
  /** the start of the response body, for the error code in a diagnostic */
  body?: string;
  /**
   * `body` is only the start of what was sent: the answer was cut off, or was longer than the
   * SDK reads. Only then may a body that is not whole JSON still be the collector's.
   */
  truncated?: boolean;
}

/** Performs one HTTP request. Inject your own to route reports through anything you like. */
export type MakeRequest = (request: TransportRequest) => Promise<TransportResponse>;

/** What a transport is made with: where reports go, and how. The reporter fills it in. */
export interface TransportOptions {
  /** the full URL of `POST /v1/reports` */
  url: string;
  token: string;
  timeoutMs: number;
  /** PEM certificates of a CA to trust besides Node's own, for an https:// url */
  ca?: string;
  /** the HTTP proxy to go through (the `proxy` option, or the environment's; proxy.ts) */
  proxy?: string;
}

/** How one delivery attempt ended, and so what the queue does with the report. */
export type SendOutcome =
  /** 200 or 202 with the collector's answer for this report: delete it */
  | { kind: 'delivered'; status: number }
  /** a 4xx that retrying cannot mend: delete it, with a diagnostic */
  | { kind: 'rejected'; status: number; code?: string; fields?: string[] }
  /** 413: send it again without the dump */
  | { kind: 'too_large'; status: 413 }
  /** 408, 429, 503: wait as told (null: not told; back off) */
  | { kind: 'retry_after'; status: number; delayMs: number | null }
  /** network error, timeout, another 5xx, a 404 or 405, or a 200 not a collector's: back off */
  | { kind: 'failed'; status?: number; reason: string };

/**
 * Sends one report and says how it went; never throws (a failure is an outcome). The reporter's
 * `transport` option takes a function that makes one.
 *
 * @example
 * const outcome = await transport.send(report); // { kind: 'delivered', status: 202 }
 */
export interface Transport {
  /** `signal` aborts the attempt (at `close()`): it then ends as `failed`. */
  send(report: Report, options?: { signal?: AbortSignal }): Promise<SendOutcome>;
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
  makeRequest: MakeRequest = httpRequest,
): Transport {
  return {
    async send(report, sendOptions) {
      let response: TransportResponse;
      try {
        response = await makeRequest({
          ...reportRequest(options, report),
          signal: sendOptions?.signal,
        });
      } catch (error) {
        return failedOutcome(error);
      }
      return classify(response, report.id);
    },
  };
}

/** The request that delivers `report`: what a transport hands to `makeRequest`. */
export function reportRequest(options: TransportOptions, report: Report): TransportRequest {
  return {
    url: options.url,
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${options.token}`,
    },
    body: JSON.stringify(report),
    timeoutMs: options.timeoutMs,
    ...(options.ca === undefined ? {} : { ca: options.ca }),
    ...(options.proxy === undefined ? {} : { proxy: options.proxy }),
  };
}

/** The outcome of a request that threw (a network error, a time-out): back off and retry. */
export function failedOutcome(error: unknown): SendOutcome {
  return { kind: 'failed', reason: networkReason(error) };
}

/**
 * Maps a collector answer to what the queue must do (contract section 1, "Answers"). With the
 * report's id, a 200 or 202 must also look like the collector's answer for it: a wrong endpoint
 * behind a catch-all web server (an HTML page with 200) would otherwise empty the queue.
 */
export function classify(response: TransportResponse, reportId?: string): SendOutcome {
  const status = response.statusCode;
  if (status === 200 || status === 202) {
    if (reportId === undefined || answersFor(response, reportId)) {
      return { kind: 'delivered', status };
    }
    return { kind: 'failed', status, reason: `HTTP ${status} not from a collector` };
  }
  if (status === 413) return { kind: 'too_large', status };
  if (status === 408 || status === 429 || status === 503) {
    return {
      kind: 'retry_after',
      status,
      delayMs: parseRetryAfter(response.headers?.['retry-after']),
    };
  }
  // No report route at the endpoint (a wrong base path, a proxy not yet set up): nothing wrong
  // with the report, and a corrected endpoint delivers it, so it is kept and tried again.
  if (status === 404 || status === 405) {
    return {
      kind: 'failed',
      status,
      reason: `HTTP ${status}: no report route there, check endpoint`,
    };
  }
  // Only ever a proxy's answer, not the collector's: kept until the proxy lets it through.
  if (status === 407) {
    return {
      kind: 'failed',
      status,
      reason: 'HTTP 407: the proxy asks for credentials; give them in the proxy URL',
    };
  }
  if (status >= 400 && status < 500) {
    // A page of HTML or text (a proxy's, a firewall's) says nothing about the report: kept and
    // tried again, not deleted. The collector answers with a JSON error object.
    if (isPage(response)) {
      return { kind: 'failed', status, reason: `HTTP ${status} not from a collector` };
    }
    return { kind: 'rejected', status, ...errorOf(response.body) };
  }
  // Never followed (a redirect could take the token elsewhere): kept, and the host told why.
  if (status >= 300 && status < 400) {
    return {
      kind: 'failed',
      status,
      reason: `HTTP ${status}: the endpoint redirects, which the SDK never follows; set endpoint to the collector's own address`,
    };
  }
  return { kind: 'failed', status, reason: `HTTP ${status}` };
}

/**
 * Whether a 200 or 202's body can be the collector's `{"id", "group"}` for this report: a JSON
 * object that names no other report. No body to read (an injected makeRequest that gives none,
 * or an answer cut off before its body) and a body cut off inside its JSON object count as the
 * collector's: the status is what it said. An empty body, a page of HTML or text, or an answer
 * for another id, does not: a web server's stub or a wrong endpoint answered, not the collector.
 */
function answersFor({ body, truncated }: TransportResponse, reportId: string): boolean {
  if (body === undefined) return true;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return truncated === true && cutOffAnswerFor(body, reportId);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const id = (value as { id?: unknown }).id;
  return id === undefined || id === reportId;
}

/**
 * Whether the start of a cut-off body can be the collector's `{"id", "group"}` for this report:
 * an object whose `id`, as far as it came, is this report's. A whole body that is not JSON is
 * never the collector's (a template's `{{ response }}`, a stub's `{status: "ok"}`).
 */
function cutOffAnswerFor(body: string, reportId: string): boolean {
  // The collector's `{"id", "group"}` is some 80 characters: cut off by the SDK's read, it was
  // not the collector's.
  if (body.length >= MAX_BODY_CHARS || !body.trimStart().startsWith('{')) return false;
  const id = /"id"\s*:\s*"([^"]*)("?)/.exec(body);
  if (!id) return true;
  return id[2] === '"' ? id[1] === reportId : reportId.startsWith(id[1]!);
}

/** Whether an error answer's body is a page (HTML, text) rather than a JSON error object. */
function isPage({ body, truncated }: TransportResponse): boolean {
  if (body === undefined || body.trim() === '') return false;
  try {
    const value = JSON.parse(body) as { error?: unknown } | null;
    return typeof value?.error !== 'object' || value.error === null;
  } catch {
    // Cut off inside a JSON object (the first MAX_BODY_CHARS): still the collector's. Whole and
    // not JSON, it is not, whatever its first character.
    return truncated !== true || !body.trimStart().startsWith('{');
  }
}

/**
 * The JSON pointers of report schema 1 (`''` the report itself): the only `details` paths an
 * answer's text reaches the host with. Another server (a proxy, a wrong endpoint) may write
 * anything there, and the SDK sends no field the schema lacks.
 */
const REPORT_POINTERS = new Set(pointersOf(reportSchema));

function pointersOf(schema: { properties?: Record<string, unknown> }, at = ''): string[] {
  return [
    at,
    ...Object.entries(schema.properties ?? {}).flatMap(([name, sub]) =>
      pointersOf(sub as { properties?: Record<string, unknown> }, `${at}/${name}`),
    ),
  ];
}

/**
 * The collector's error code, and the JSON pointers its `details` name (the first five), from an
 * error body: what a developer needs to see why a report was refused. Anything of another form
 * (a proxy's page, odd text) is left out.
 */
function errorOf(body: string | undefined): { code?: string; fields?: string[] } {
  if (!body) return {};
  let error: { code?: unknown; details?: unknown } | undefined;
  try {
    error = (JSON.parse(body) as { error?: { code?: unknown; details?: unknown } }).error;
  } catch {
    return {};
  }
  const code = isErrorCode(error?.code) ? error.code : undefined;
  const fields = (Array.isArray(error?.details) ? (error.details as unknown[]) : [])
    .map((d) => (d as { path?: unknown } | null)?.path)
    .filter((p): p is string => typeof p === 'string' && REPORT_POINTERS.has(p))
    .slice(0, 5);
  return { ...(code ? { code } : {}), ...(fields.length > 0 ? { fields } : {}) };
}

function networkReason(error: unknown): string {
  try {
    const e = error as { name?: unknown; code?: unknown; cause?: { code?: unknown } };
    if (e?.name === 'TimeoutError') return 'timed out';
    if (e?.name === 'AbortError') return 'aborted';
    const code = e?.cause?.code ?? e?.code;
    if (typeof code === 'string' && /^[A-Z_0-9]{2,40}$/.test(code)) return code;
    return 'network error';
  } catch {
    return 'network error';
  }
}
