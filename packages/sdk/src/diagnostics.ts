/**
 * Why the SDK did something the host may want to know about: it never throws into the host, so
 * this is the only place a dropped, delayed or altered report shows up.
 */
export type DiagnosticCode =
  /** report() input was coerced to schema 1 (a wrong type, a string cut to its bound, ...) */
  | 'invalid_input'
  /** the `username` function threw or returned something other than a string */
  | 'username_failed'
  /** flood control began holding back a group this window; the rest go out as `repeats` */
  | 'rate_limited'
  /**
   * flush() left a group's held-back occurrences for their window's end: flushed early too
   * often; across jcs-report calls, also a carrier that could not be queued or released now
   */
  | 'flood_held'
  /** the dump was cut to fit the size limit */
  | 'dump_truncated'
  /**
   * the dump was withheld (`too-large` or `unserializable`), or dropped from a waiting report to
   * make room in a full queue (the report goes with `too-large`)
   */
  | 'dump_withheld'
  /** beforeSend returned null: the report was dropped on purpose */
  | 'before_send_dropped'
  /** beforeSend threw or returned something that is not a schema 1 report: dropped */
  | 'before_send_failed'
  /** the queue was full: the oldest report was dropped */
  | 'queue_overflow'
  /** the queue directory could not be used: reports are held in memory for this run */
  | 'queue_unavailable'
  /** a report could not be written to the queue directory: held in memory until it can be */
  | 'queue_write_failed'
  /** a queue file could not be read as a report: moved to `corrupt/` */
  | 'queue_corrupt'
  /** a queue file could not be read at all now (a permission, a lock): left queued, tried later */
  | 'queue_read_failed'
  /** the collector asked us to wait (408, 429, 503) */
  | 'collector_busy'
  /** network error, timeout or 5xx: retrying after a back-off */
  | 'send_failed'
  /** the proxy named in the environment is not an http:// proxy URL: reports go directly */
  | 'proxy_ignored'
  /** 413: the report is sent again without its dump */
  | 'too_large'
  /** a 4xx that retrying cannot mend: the report was deleted */
  | 'rejected'
  /** report() after close(): stored for the next run where a queue dir exists, else dropped */
  | 'closed'
  /**
   * report() or captureException() from inside a callback (`username`, `beforeSend`,
   * `onDiagnostic`) of a report that was itself made from inside one: dropped, as the callbacks
   * could otherwise call each other without end; `reportId` is the id the call answered
   */
  | 'nested_report_dropped'
  /** a bug in the SDK, caught so the host never sees it */
  | 'internal_error';

/**
 * One diagnostic. Messages never carry values from the report's input or its dump: only codes,
 * ids, field paths, statuses and counts, so a diagnostic log is safe to keep.
 */
export interface Diagnostic {
  code: DiagnosticCode;
  message: string;
  /** the report concerned, where there is one */
  reportId?: string;
  /** the collector's HTTP status, where there is one */
  status?: number;
  /** when the next attempt is due, for `send_failed` and `collector_busy` */
  retryInMs?: number;
  /**
   * why a send failed, for `send_failed`: a network or TLS error code (`ECONNREFUSED`,
   * `CERT_HAS_EXPIRED`; `PROXY_HTTP_407` and the like when the proxy refused the tunnel,
   * `PROXY_CLOSED`, `PROXY_BAD_ANSWER`), `timed out`, `aborted`, `network error`, `transport threw` (an injected
   * transport's), or `HTTP <status>` with a few words after it where they help (`HTTP 404: no
   * report route there, check endpoint`); never a value from the report
   */
  reason?: string;
}

export type DiagnosticSink = (diagnostic: Diagnostic) => void;

/**
 * The codes that mean a report is gone without being delivered: refused for good by the
 * collector (a 4xx, or a 413 even without its dump), pushed out of a full queue, found in the
 * queue unreadable (moved to `corrupt/`), or made too deep inside the SDK's callbacks to be
 * queued at all, though its caller holds an id. `flush()` answers false when one of these
 * happened while it waited.
 */
export const LOST_REPORT_CODES: ReadonlySet<DiagnosticCode> = new Set<DiagnosticCode>([
  'rejected',
  'queue_overflow',
  'queue_corrupt',
  'nested_report_dropped',
  // a hook's bug, unlike its null (before_send_dropped), which drops the report on purpose
  'before_send_failed',
]);

/**
 * Wraps the host's `onDiagnostic` so that a throwing callback, or one that reports again and
 * recurses, can never reach the code path that called it.
 */
export function createDiagnosticSink(onDiagnostic?: (d: Diagnostic) => void): DiagnosticSink {
  let depth = 0;
  return (diagnostic) => {
    if (!onDiagnostic || depth > 0) return;
    depth++;
    try {
      // An async logger's rejected promise must not become the host's unhandled rejection.
      ignoreRejection(onDiagnostic(diagnostic) as unknown);
    } catch {
      // The host's logger failing is not the host's app failing: ignore.
    } finally {
      depth--;
    }
  };
}

/**
 * When a host callback answered with a promise (or any thenable), attaches a rejection handler so
 * its failure can never surface as an unhandled rejection (exit code 1 in Node's default mode).
 * True when `value` was a thenable: the caller then treats the answer as unusable.
 */
export function ignoreRejection(value: unknown): boolean {
  try {
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false;
    const then = (value as { then?: unknown }).then;
    if (typeof then !== 'function') return false;
    try {
      then.call(value, undefined, () => undefined);
    } catch {
      // a thenable whose then throws has nothing left to reject
    }
    return true;
  } catch {
    // a Proxy whose `then` getter throws: not a usable answer either
    return true;
  }
}

/** What a system error's code looks like (ENOENT, ERR_SOCKET_TIMEOUT, EACCES). */
const ERROR_CODE = /^[A-Z][A-Z0-9_]{1,39}$/;

/**
 * A short, value-free description of a caught error, for diagnostics: its name, and its `code`
 * where that is a system code. A host's own error may carry anything in `code` (an account
 * number, a client's reference), and diagnostics go to the host's log.
 *
 * @example
 * describeError(Object.assign(new Error('x'), { code: 'ENOENT' })); // 'Error ENOENT'
 */
export function describeError(error: unknown): string {
  try {
    if (error instanceof Error) {
      const code = (error as { code?: unknown }).code;
      return typeof code === 'string' && ERROR_CODE.test(code)
        ? `${error.name} ${code}`
        : error.name;
    }
    return typeof error;
  } catch {
    return 'unknown error';
  }
}
