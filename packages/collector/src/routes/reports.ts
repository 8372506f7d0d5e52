import { Router } from 'express';
import type { Collector } from '../collector';
import { requireRole } from '../auth/middleware';
import { auditedRead } from '../http/audited';
import { QueryReader } from '../http/query';

/** `GET /v1/reports/:id`: the one route that returns personal data, each read logged. */
export function reportRoutes(c: Collector): Router {
  const router = Router();
  router.get('/v1/reports/:id', requireRole(c, 'engineer'), async (req, res) => {
    const q = new QueryReader(req.query, ['dump']);
    const withDump = q.flag('dump');
    const id = String(req.params.id);
    res.json(
      await auditedRead(
        c,
        req,
        withDump ? 'reports.get.dump' : 'reports.get',
        id.slice(0, 64),
        () => {
          q.done();
          // Off the event loop under `serve`: opening a dump is an X25519 in JavaScript.
          return c.triage({ op: 'report', id, dump: withDump });
        },
      ),
    );
  });
  return router;
}
