import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { ApiError, NO_ROUTE_MESSAGE } from '@jcs/protocol';
import type { Logger } from '../log';
import { isStorageFailure, storageUnavailable } from '../ingest/unavailable';
import { routeOf } from './request-log';
import { sendJson } from './json-response';

/** 404 for any route not mounted. */
export const notFound: RequestHandler = (_req, _res, next) => {
  next(new ApiError('not_found', NO_ROUTE_MESSAGE));
};

/**
 * Told of every error answered, with the request: the access log records refusals through it.
 * The answer waits for a promise it returns (the entry on disk before the answer).
 */
export type ErrorHook = (err: ApiError, req: IncomingMessage) => Promise<void> | void;

/**
 * The one place an error becomes an answer, for Express's routes (errorMiddleware below) and for
 * the ingest fast path alike. Catalogue errors answer as they are; errors Express raises over
 * client input (a path that does not decode, body-parser style errors) map to their 4xx codes; a
 * storage failure is a 503; anything else is a bug: logged, answered 500 without detail.
 *
 * @example
 * try { ... } catch (err) { answerError(log, err, req, res, onError); }
 */
export function answerError(
  log: Logger,
  err: unknown,
  req: IncomingMessage,
  res: ServerResponse,
  onError?: ErrorHook,
): void {
  const apiError = toApiError(err);
  if (apiError.code === 'internal') {
    log.error(
      {
        err: { message: (err as Error)?.message, stack: (err as Error)?.stack },
        route: routeOf(req),
      },
      'unexpected error',
    );
  } else if (apiError.code === 'unavailable' && apiError.cause !== undefined) {
    // Only the error's message and code: SQLite and fs messages name files, never values.
    const cause = apiError.cause as { message?: string; code?: string };
    log.error(
      { err: cause?.message, code: cause?.code, route: routeOf(req) },
      'storage refused a request',
    );
  }
  const hookFailed = (e: unknown) => log.error({ err: (e as Error)?.message }, 'error hook failed');
  let hooked: Promise<void> | void = undefined;
  try {
    hooked = onError?.(apiError, req);
  } catch (e) {
    hookFailed(e);
  }
  if (!hooked) return writeError(res, apiError);
  // Refused either way: an entry that could not be written changes nothing of the answer.
  hooked.catch(hookFailed).finally(() => writeError(res, apiError));
}

/**
 * Writes an error body with its status and headers (Retry-After), unless an answer has already
 * begun: then there is nothing left to say to the client.
 *
 * @example
 * writeError(res, new ApiError('not_found')); // 404 {"error":{"code":"not_found","message":"..."}}
 */
function writeError(res: ServerResponse, e: ApiError): void {
  if (res.headersSent) return;
  // RFC 6750: a 401 names the scheme the client should use.
  const headers =
    e.status === 401
      ? { ...e.headers, 'WWW-Authenticate': 'Bearer realm="jcs-collector"' }
      : e.headers;
  sendJson(res, e.status, e.toBody(), headers);
}

/**
 * Express's error middleware, over answerError.
 *
 * @example
 * app.use(errorMiddleware(log, (err, req) => auditRefusal(c, req, err)));
 */
export function errorMiddleware(log: Logger, onError?: ErrorHook): ErrorRequestHandler {
  return (err, req, res, _next) => answerError(log, err, req, res, onError);
}

/**
 * The catalogue error an error answers as: itself, or what answerError() makes of Express's and
 * the storage's errors; `internal` for anything else.
 *
 * @example
 * toApiError(sqliteBusyError).code; // 'unavailable'
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (isStorageFailure(err)) return storageUnavailable(err);
  const e = err as { type?: string; status?: number; statusCode?: number };
  if (e?.type === 'entity.parse.failed') {
    return new ApiError('invalid_json', undefined, {
      details: [{ path: '', message: 'must be JSON' }],
    });
  }
  if (e?.type === 'entity.too.large') return new ApiError('payload_too_large');
  const status = e?.status ?? e?.statusCode;
  if (status === 415) return new ApiError('unsupported_media_type');
  if (status === 413) return new ApiError('payload_too_large');
  if (status === 404) return new ApiError('not_found');
  // Express's own 4xx errors (a path parameter that is not valid percent-encoding, an aborted
  // body): the client's doing, so never a 500.
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Express says which in its message only; the usual case is the path.
    const path = err instanceof URIError ? 'path' : '';
    return new ApiError('invalid_request', 'The request is malformed (its path or body).', {
      details: [{ path, message: path ? 'must be valid percent-encoding' : 'is malformed' }],
    });
  }
  return new ApiError('internal');
}
