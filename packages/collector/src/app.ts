import express, { type Express } from 'express';
import type { Collector } from './collector';
import { publicRoutes } from './routes/public';
import { ingestRoutes, type IngestGate } from './routes/ingest';
import { groupRoutes } from './routes/groups';
import { reportRoutes } from './routes/reports';
import { errorMiddleware, notFound } from './http/errors';
import { auditRefusal } from './http/audited';
import { requestLog } from './http/request-log';

export interface AppOptions {
  /** rate limits and other checks run on every authenticated report before its body is read */
  ingestGate?: IngestGate;
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
  app.use(requestLog(c.log));
  app.use(publicRoutes(c));
  app.use(ingestRoutes(c, options.ingestGate));
  app.use(groupRoutes(c));
  app.use(reportRoutes(c));
  app.use(notFound);
  app.use(errorMiddleware(c.log, (err, req) => auditRefusal(c, req, err)));
  return app;
}
