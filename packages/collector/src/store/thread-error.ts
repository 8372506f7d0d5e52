/**
 * An error as it crosses between the event loop and a worker thread. postMessage would keep an
 * Error's message but drop its `code`, and the code is what makes a storage failure (SQLITE_BUSY,
 * SQLITE_FULL, ENOSPC) answer 503 `unavailable` rather than 500 (http/errors.ts), and a full disk
 * be said as one.
 */
export interface ThreadError {
  message: string;
  code?: string;
}

/**
 * What a worker posts for an error it caught.
 *
 * @example
 * port.postMessage({ type: 'error', ...toThreadError(e) });
 */
export function toThreadError(e: unknown): ThreadError {
  const err = e as { message?: unknown; code?: unknown } | null;
  const code = err?.code;
  return {
    message: String(err?.message ?? e),
    ...(typeof code === 'string' ? { code } : {}),
  };
}

/**
 * The error a worker posted, as an Error with its code again.
 *
 * @example
 * reject(fromThreadError(m.error)); // (e as { code }).code === 'SQLITE_BUSY'
 */
export function fromThreadError(e: ThreadError): Error {
  return Object.assign(new Error(e.message), e.code ? { code: e.code } : {});
}
