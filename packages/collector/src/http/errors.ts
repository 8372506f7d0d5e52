import type { ErrorRequestHandler, RequestHandler } from 'express';
import { ApiError } from '@jcs/protocol';
import type { Logger } from '../log';

/** 404 for any route not mounted. */
export const notFound: RequestHandler = (_req, _res, next) => {
  next(new ApiError('not_found', 'No such route: see docs/api.md for the routes.'));
};

/**
 * The one place an error becomes an answer. Catalogue errors answer as they are; body-parser
 * style errors map to their codes; anything else is a bug: logged, answered 500 without detail.
 */
export function errorMiddleware(
  log: Logger,
  onError?: (err: ApiError, req: Parameters<ErrorRequestHandler>[1]) => void,
): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const apiError = toApiError(err);
    if (apiError.code === 'internal') {
      log.error(
        {
          err: { message: (err as Error)?.message, stack: (err as Error)?.stack },
          route: req.path,
        },
        'unexpected error',
      );
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
  const e = err as { type?: string; status?: number };
  if (e?.type === 'entity.parse.failed') return new ApiError('invalid_json');
  if (e?.type === 'entity.too.large') return new ApiError('payload_too_large');
  if (e?.status === 415) return new ApiError('unsupported_media_type');
  return new ApiError('internal');
}
