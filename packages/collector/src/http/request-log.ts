import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { Logger } from '../log';
import { actorOf } from '../auth/middleware';
import { parserAnswered } from './client-error';

/** What a request carries once routed: Express sets `route`; the ingest fast path sets it too. */
type Routed = IncomingMessage & { route?: { path?: unknown } };

/**
 * The route pattern a request matched (`/v1/reports/:id`), never the path itself: a path may
 * carry anything a client typed, personal data included.
 *
 * @example
 * routeOf(req); // '/v1/groups/:id', or '(no route)' for a 404
 */
export function routeOf(req: IncomingMessage): string {
  const path = (req as Routed).route?.path;
  return typeof path === 'string' ? path : '(no route)';
}

/**
 * Names the route of a request that Express did not route (the ingest fast path), the way Express
 * does, so that routeOf() and the access log name it alike whichever way it came.
 */
export function setRoute(req: IncomingMessage, path: string): void {
  (req as Routed).route = { path };
}

/**
 * The logger for request lines: the collector's own, without the redaction pass. A request line is
 * built only from fields that can hold nothing personal (method, route pattern, status, duration,
 * token name), and redaction roughly doubled the cost of writing it, on every request.
 */
export function requestLogger(log: Logger): Logger {
  return log.child({}, { redact: [] });
}

/**
 * One JSON line per request, once its answer is sent or its client gone: method, route pattern,
 * status, duration, the token's name. Never a body, a path, a query string, a header or a token.
 * A request whose client went away before the answer was sent is logged with `aborted: true` and
 * `status: null` (every line has the same fields); one whose body was not sent whole in time
 * shows the 408 it was answered. `log` is a requestLogger().
 *
 * @example
 * logRequest(lines, req, res); // {"method":"POST","route":"/v1/reports","status":202,"ms":1.9,...}
 */
export function logRequest(log: Logger, req: IncomingMessage, res: ServerResponse): void {
  if (!log.isLevelEnabled('info')) return;
  const start = performance.now();
  res.once('close', () => {
    // A body not sent whole in time was answered 408 by the server, not by the route.
    const byParser = parserAnswered(req)?.status;
    const finished = res.writableFinished || byParser !== undefined;
    log.info(
      finished
        ? {
            method: req.method,
            route: routeOf(req),
            status: byParser ?? res.statusCode,
            ms: performance.now() - start,
            actor: actorOf(req)?.name,
          }
        : {
            method: req.method,
            route: routeOf(req),
            status: null,
            ms: performance.now() - start,
            actor: actorOf(req)?.name,
            aborted: true,
          },
      'request',
    );
  });
}

/**
 * logRequest as Express middleware, for every route but the ingest fast path.
 *
 * @example
 * app.use(requestLog(log));
 */
export function requestLog(log: Logger): RequestHandler {
  const lines = requestLogger(log);
  return (req, res, next) => {
    logRequest(lines, req, res);
    next();
  };
}
