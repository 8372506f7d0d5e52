import express, { type Express, type Request } from 'express';
import type { Collector } from './collector';
import { publicRoutes } from './routes/public';
import { ingestHandler, ingestRoutes, type IngestGate, type IngestReserve } from './routes/ingest';
import { groupRoutes } from './routes/groups';
import { reportRoutes } from './routes/reports';
import { retentionRoutes } from './routes/retention';
import { auditRoutes } from './routes/audit';
import { eraseRoutes } from './routes/erase';
import { attachLimits, RequestLimits, type RequestLimitsOptions } from './auth/request-limits';
import { errorMiddleware, notFound, type ErrorHook } from './http/errors';
import { identifyActor } from './auth/middleware';
import { auditRefusal } from './http/audited';
import { requestLog } from './http/request-log';
import { withIngestFastPath } from './http/ingest-fast-path';
import { badTargetError } from './http/request-target';

export interface AppOptions {
  /** rate limits and other checks run on every authenticated report before its body is read */
  ingestGate?: IngestGate;
  /** the free disk space reports may not take (`serve --min-free-disk`); none when absent */
  diskReserve?: IngestReserve;
  /**
   * Rate limits (auth/request-limits.ts): reports per licence and per token, reads per token.
   * Absent: none, for embedding and tests; `serve` passes its defaults or flags.
   */
  rateLimits?: RequestLimitsOptions;
}

/**
 * The HTTP API over an open collector: every route mounted, one error catalogue writing every
 * error body. `POST /v1/reports` is answered by a fast path in front of Express
 * (http/ingest-fast-path.ts); everything else by Express.
 *
 * @example
 * const app = createApp(openCollector({ dataDir }));
 * app.listen(8080);
 */
export function createApp(c: Collector, options: AppOptions = {}): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.set('etag', false);
  // No answer is cacheable (every one is no-store), so no conditional request is ever "fresh":
  // Express would answer `If-None-Match: *` with an empty 304 on every GET, health included.
  Object.defineProperty(app.request, 'fresh', { configurable: true, get: () => false });
  const limits = options.rateLimits ? new RequestLimits(options.rateLimits) : undefined;
  if (limits) attachLimits(app, limits);
  // Engineer and admin requests refused before reaching a handler still leave an access-log entry.
  // The ingest fast path passes a plain Node request, named (actor, route) as Express names one.
  const onError: ErrorHook = (err, req) => auditRefusal(c, req as Request, err);
  const ingest = ingestHandler(c, {
    limits,
    gate: options.ingestGate,
    reserve: options.diskReserve,
    onError,
  });

  app.use(requestLog(c.log));
  // As sendJson sets it for the answers it writes (http/json-response.ts).
  app.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    next();
  });
  // Express would answer OPTIONS itself (200, an Allow list) before any token check or access-log
  // entry. The API serves no browsers (no CORS), so OPTIONS is a method it does not have: 404.
  // A plain middleware, not a route: the access log names the action `OPTIONS (no route)`, as for
  // any other request that reaches no route, rather than a catch-all pattern of our own.
  const actor = identifyActor(c);
  // A target that is not a path nor a URL (http/request-target.ts), refused as any request is.
  app.use((req, res, next) => {
    const bad = badTargetError(req);
    if (!bad) return next();
    actor(req, res, () => next(bad));
  });
  app.use((req, res, next) => {
    if (req.method !== 'OPTIONS') return next();
    actor(req, res, () => notFound(req, res, next));
  });
  app.use(publicRoutes(c));
  app.use(ingestRoutes(ingest));
  // Reports answered while the expiry job ran may still be in the inbox: everything below reads
  // or changes what they belong to, so they are folded into the database first.
  app.use((_req, _res, next) => {
    c.settled().then(() => next(), next);
  });
  app.use(groupRoutes(c));
  app.use(reportRoutes(c));
  app.use(retentionRoutes(c));
  app.use(auditRoutes(c));
  app.use(eraseRoutes(c));
  // Whoever reaches no route is still named, so the access log records the attempt.
  app.use(identifyActor(c), notFound);
  app.use(errorMiddleware(c.log, onError));
  return withIngestFastPath(app, ingest, c.log);
}
