/**
 * The error catalogue: every error code the collector answers with, its HTTP status and its
 * default message. One list, so the collector's middleware, the CLI's exit codes and docs/api.md
 * agree (a test checks each code is documented).
 */
export const ERRORS = {
  invalid_json: { status: 400, message: 'The request body is not valid JSON.' },
  invalid_report: { status: 400, message: 'The report does not match report schema 1.' },
  invalid_request: { status: 400, message: 'A query parameter or the request body is not valid.' },
  unauthorized: { status: 401, message: 'A valid bearer token is required.' },
  forbidden: { status: 403, message: "This token's role may not do this." },
  not_found: { status: 404, message: 'No such route, group or report.' },
  request_timeout: { status: 408, message: 'The request was not sent whole in time.' },
  payload_too_large: { status: 413, message: 'The request body is over the size limit.' },
  unsupported_media_type: { status: 415, message: 'The request body must be application/json.' },
  headers_too_large: { status: 431, message: 'The request headers are over the size limit.' },
  rate_limited: { status: 429, message: 'Too many requests: retry after the delay given.' },
  unavailable: {
    status: 503,
    message: 'Storage cannot take this now: retry after the delay given.',
  },
  internal: { status: 500, message: 'The collector failed unexpectedly; the failure was logged.' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

/**
 * The message of the collector's 404 for a path it has no route for, as against a group or report
 * it does not hold: a client tells the two apart by it (the CLI exits 1 for the first, a wrong
 * `--server`, and 4 for the second), so it is one constant both sides use.
 *
 * @example
 * body.error.code === 'not_found' && body.error.message === NO_ROUTE_MESSAGE; // a wrong path
 */
export const NO_ROUTE_MESSAGE = 'No such route: see docs/api.md for the routes.';

/** One entry of an error body's `details`. */
export interface ErrorDetail {
  path: string;
  message: string;
}

/** The body of every error answer. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: ErrorDetail[] };
}

/** At most this many details in an answer, and paths cut to this many characters. */
export const MAX_DETAILS = 20;
export const MAX_DETAIL_PATH = 64;

/**
 * A field's path or name as answers show it: cut to MAX_DETAIL_PATH characters, marked, so a cut
 * name is not taken whole.
 *
 * @example
 * cutDetailPath('/' + 'x'.repeat(100)); // '/xxx…' (64 characters, then …)
 */
export function cutDetailPath(path: string): string {
  return path.length > MAX_DETAIL_PATH ? `${path.slice(0, MAX_DETAIL_PATH)}…` : path;
}

/**
 * An error with a catalogue code. Thrown anywhere in the collector; one middleware turns it into
 * the answer.
 *
 * @example
 * throw new ApiError('not_found', 'No group 3fa9c1.');
 */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: ErrorDetail[];
  /** extra headers for the answer, such as Retry-After */
  readonly headers?: Record<string, string>;

  constructor(
    code: ErrorCode,
    message?: string,
    options: { details?: ErrorDetail[]; headers?: Record<string, string> } = {},
  ) {
    super(message ?? ERRORS[code].message);
    this.name = 'ApiError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = options.details;
    this.headers = options.headers;
  }

  /**
   * The answer's body. Its details are bounded whatever the request held (a thousand unknown
   * query parameters, a key of 10,000 characters): at most 20, each path cut to 64 characters.
   */
  toBody(): ErrorBody {
    const error: ErrorBody['error'] = { code: this.code, message: this.message };
    if (this.details && this.details.length > 0) {
      error.details = this.details
        .slice(0, MAX_DETAILS)
        .map((d) => ({ ...d, path: cutDetailPath(d.path) }));
    }
    return { error };
  }
}

/**
 * Whether a value is one of the catalogue's codes: how a client tells the collector's error
 * bodies from a proxy's.
 *
 * @example
 * isErrorCode('rate_limited'); // true
 * isErrorCode('teapot'); // false
 */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERRORS, value);
}
