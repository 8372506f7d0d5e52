import express, { type Express } from 'express';
import type { Collector } from './collector';
import { publicRoutes } from './routes/public';
import { ingestRoutes, type IngestGate } from './routes/ingest';
import { groupRoutes } from './routes/groups';
import { reportRoutes } from './routes/reports';
import { retentionRoutes } from './routes/retention';
import { auditRoutes } from './routes/audit';
import { eraseRoutes } from './routes/erase';
import { attachLimits, RequestLimits, type RequestLimitsOptions } from './auth/request-limits';
import { errorMiddleware, notFound } from './http/errors';
import { identifyActor } from './auth/middleware';
import { auditRefusal } from './http/audited';
import { requestLog } from './http/request-log';

export interface AppOptions {
  /** rate limits and other checks run on every authenticated report before its body is read */
  ingestGate?: IngestGate;
  /**
   * Rate limits (auth/request-limits.ts): reports per licence and per token, reads per token.
   * Absent: none, for embedding and tests; `serve` passes its defaults or flags.
   */
  rateLimits?: RequestLimitsOptions;
}

/**
 * The HTTP API over an open collector: every route mounted, one error middleware writing every
 * error body.
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
  if (options.rateLimits) attachLimits(app, new RequestLimits(options.rateLimits));
  app.use(requestLog(c.log));
  app.use(publicRoutes(c));
  app.use(ingestRoutes(c, options.ingestGate));
  app.use(groupRoutes(c));
  app.use(reportRoutes(c));
  app.use(retentionRoutes(c));
  app.use(auditRoutes(c));
  app.use(eraseRoutes(c));
  // Whoever reaches no route is still named, so the access log records the attempt.
  app.use(identifyActor(c), notFound);
  app.use(errorMiddleware(c.log, (err, req) => auditRefusal(c, req, err)));
  return app;
}
