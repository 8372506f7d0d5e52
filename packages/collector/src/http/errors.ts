import type { ErrorRequestHandler, RequestHandler } from 'express';
import { ApiError } from '@jcs/protocol';
import type { Logger } from '../log';
import { isStorageFailure, storageUnavailable } from '../ingest/unavailable';
import { routeOf } from './request-log';

/** 404 for any route not mounted. */
export const notFound: RequestHandler = (_req, _res, next) => {
  next(new ApiError('not_found', 'No such route: see docs/api.md for the routes.'));
};

/**
 * The one place an error becomes an answer. Catalogue errors answer as they are; errors Express
 * raises over client input (a path that does not decode, body-parser style errors) map to their
 * 4xx codes; a storage failure is a 503; anything else is a bug: logged, answered 500 without
 * detail.
 *
 * @example
 * app.use(errorMiddleware(log));
 */
export function errorMiddleware(
  log: Logger,
  onError?: (err: ApiError, req: Parameters<ErrorRequestHandler>[1]) => void,
): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const apiError = toApiError(err);
    const route = routeOf(req);
    if (apiError.code === 'internal') {
      log.error(
        { err: { message: (err as Error)?.message, stack: (err as Error)?.stack }, route },
        'unexpected error',
      );
    } else if (apiError.code === 'unavailable' && apiError.cause !== undefined) {
      // Only the error's message and code: SQLite and fs messages name files, never values.
      const cause = apiError.cause as { message?: string; code?: string };
      log.error({ err: cause?.message, code: cause?.code, route }, 'storage refused a request');
    }
    try {
      onError?.(apiError, req);
    } catch (e) {
      log.error({ err: (e as Error).message }, 'error hook failed');
    }
    if (res.headersSent) return;
    for (const [k, v] of Object.entries(apiError.headers ?? {})) res.setHeader(k, v);
    res.status(apiError.status).json(apiError.toBody());
  };
}

function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (isStorageFailure(err)) return storageUnavailable(err);
  const e = err as { type?: string; status?: number; statusCode?: number };
  if (e?.type === 'entity.parse.failed') return new ApiError('invalid_json');
  if (e?.type === 'entity.too.large') return new ApiError('payload_too_large');
  const status = e?.status ?? e?.statusCode;
  if (status === 415) return new ApiError('unsupported_media_type');
  if (status === 413) return new ApiError('payload_too_large');
  if (status === 404) return new ApiError('not_found');
  // Express's own 4xx errors (a path parameter that is not valid percent-encoding, an aborted
  // body): the client's doing, so never a 500.
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new ApiError('invalid_request', 'The request is malformed (its path or body).');
  }
  return new ApiError('internal');
}
