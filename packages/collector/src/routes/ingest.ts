import { Router } from 'express';
import { ApiError, LIMITS, validateReport } from '@jcs/protocol';
import type { Collector } from '../collector';
import { actorOf, requireRole } from '../auth/middleware';
import { limitsOf } from '../auth/request-limits';
import { readJsonBody } from '../http/body';
import { prepareReport } from '../store/ingest-writer';

/** Called once a report is authenticated, before it is read: the place for rate limits. */
export type IngestGate = (req: import('express').Request) => void;

/**
 * `POST /v1/reports`: token, body, schema, seal, group commit, and only then 202 (or 200 for an
 * id stored before). A refused report stores nothing.
 */
export function ingestRoutes(c: Collector, gate?: IngestGate): Router {
  const router = Router();
  router.post('/v1/reports', requireRole(c, 'ingest'), async (req, res) => {
    gate?.(req);
    const limits = limitsOf(req);
    limits?.checkReportToken(actorOf(req)!);
    const body = await readJsonBody(req, LIMITS.bodyBytes);
    const v = validateReport(body);
    if (!v.ok) {
      const fields = [...new Set(v.errors.map((e) => e.path || '(body)'))].slice(0, 5).join(', ');
      throw new ApiError(
        'invalid_report',
        `The report does not match report schema 1: check ${fields}.`,
        {
          details: v.errors.slice(0, 100),
        },
      );
    }
    // After validation (the licence is known) and before the write: a refused report costs no I/O.
    limits?.takeReport(actorOf(req)!, v.report.license);
    const stored = await c.batcher.submit(prepareReport(v.report, c.keyring, c.clock()));
    res.status(stored.created ? 202 : 200).json({ id: stored.id, group: stored.group });
  });
  return router;
}
