import { Router } from 'express';
import { ApiError, UUID_PATTERN } from '@jcs/protocol';
import type { Collector } from '../collector';
import { requireRole } from '../auth/middleware';
import { audited } from '../http/audited';
import { QueryReader } from '../http/query';

const UUID = new RegExp(UUID_PATTERN);

/** `GET /v1/reports/:id`: the one route that returns personal data, each read logged. */
export function reportRoutes(c: Collector): Router {
  const router = Router();
  router.get('/v1/reports/:id', requireRole(c, 'engineer'), async (req, res) => {
    const q = new QueryReader(req.query, ['dump']);
    const withDump = q.flag('dump');
    const id = String(req.params.id);
    res.json(
      await audited(c, req, withDump ? 'reports.get.dump' : 'reports.get', id.slice(0, 64), () => {
        q.done();
        const report = UUID.test(id) ? c.reports.full(id, withDump) : null;
        if (!report)
          throw new ApiError(
            'not_found',
            `No report ${id.slice(0, 64)}: it may have expired (42 days) or been erased.`,
          );
        return report;
      }),
    );
  });
  return router;
}
