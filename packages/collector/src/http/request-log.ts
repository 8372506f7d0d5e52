import type { Request, RequestHandler } from 'express';
import type { Logger } from '../log';
import { actorOf } from '../auth/middleware';

/**
 * The route pattern a request matched (`/v1/reports/:id`), never the path itself: a path may
 * carry anything a client typed, personal data included.
 *
 * @example
 * routeOf(req); // '/v1/groups/:id', or '(no route)' for a 404
 */
export function routeOf(req: Request): string {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  return typeof path === 'string' ? path : '(no route)';
}

/**
 * One JSON line per request: method, route pattern, status, duration, the token's name. Never a
 * body, a path, a query string, a header or a token. A request whose client went away before
 * the answer was sent is logged with `aborted: true` and no status.
 *
 * @example
 * app.use(requestLog(log)); // {"method":"POST","route":"/v1/reports","status":202,"ms":1.9,...}
 */
export function requestLog(log: Logger): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    res.once('close', () => {
      if (!log.isLevelEnabled('info')) return;
      log.info(
        {
          method: req.method,
          route: routeOf(req),
          status: res.writableFinished ? res.statusCode : null,
          ms: Number(process.hrtime.bigint() - start) / 1e6,
          actor: actorOf(req)?.name,
          ...(res.writableFinished ? {} : { aborted: true }),
        },
        'request',
      );
    });
    next();
  };
}
