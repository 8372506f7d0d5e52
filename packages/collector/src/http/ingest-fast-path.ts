import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Express } from 'express';
import type { Logger } from '../log';
import type { IngestHandler } from '../routes/ingest';
import { logRequest, requestLogger, setRoute } from './request-log';
import { inOriginForm } from './request-target';

/** The route, as the request log and the access log name it. */
export const INGEST_ROUTE = '/v1/reports';

/**
 * The request targets Express routes to `/v1/reports` in the forms clients send: any letter case
 * (Express matches paths case-insensitively), an optional trailing slash, an optional query string.
 * An absolute URL is put in that form first (inOriginForm). Rarer forms that Express also routes
 * there (a `#fragment`) do not match: they go through Express, which has the same route and
 * handler in its table.
 */
const INGEST_TARGET = /^\/v1\/reports\/?(?:\?|$)/i;

/** True for a request the fast path takes: `POST /v1/reports`. */
function isIngestRequest(req: IncomingMessage): boolean {
  return req.method === 'POST' && INGEST_TARGET.test(req.url ?? '');
}

type ExpressEntry = (req: IncomingMessage, res: ServerResponse, next?: unknown) => void;

/**
 * Puts `POST /v1/reports` in front of an Express app, so that reports, most of the collector's
 * traffic, never go through Express: its per-request work (giving req and res new prototypes,
 * walking the router's layers, its response helpers) cost more than everything else a report
 * needs but the disk. Every other request goes on to Express as before.
 *
 * Express's own entry point, `app.handle`, is wrapped (rather than a new listener returned), so the
 * app stays an Express app for every caller: listen(), http.createServer(app), supertest.
 *
 * @example
 * return withIngestFastPath(app, ingestHandler(c, { limits }), c.log);
 */
export function withIngestFastPath(app: Express, ingest: IngestHandler, log: Logger): Express {
  const entry = app as unknown as { handle: ExpressEntry };
  const toExpress: ExpressEntry = entry.handle.bind(app);
  const lines = requestLogger(log);
  entry.handle = (req, res, next) => {
    inOriginForm(req);
    if (!isIngestRequest(req)) return toExpress(req, res, next);
    setRoute(req, INGEST_ROUTE);
    logRequest(lines, req, res);
    ingest(req, res).catch((err: unknown) => {
      // The handler answers its own errors; this is only a last guard against a bug there.
      log.error({ err: (err as Error)?.message, route: INGEST_ROUTE }, 'unexpected error');
      res.destroy();
    });
  };
  return app;
}
