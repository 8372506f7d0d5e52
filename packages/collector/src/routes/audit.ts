import { Router } from 'express';
import type { Collector } from '../collector';
import { requireRole } from '../auth/middleware';
import { audited, auditedRead } from '../http/audited';
import { QueryReader } from '../http/query';
import { verifyOffThread } from '../store/audit-verify-thread';
import type { Verification } from '../store/audit-chain';

/**
 * The access log, for admins: `GET /v1/audit` (newest first) and `GET /v1/audit/verify`. Reading
 * the log is itself logged, like every other engineer or admin request.
 */
export function auditRoutes(c: Collector): Router {
  const router = Router();
  const admin = requireRole(c, 'admin');

  router.get('/v1/audit', admin, async (req, res) => {
    const now = c.clock();
    const q = new QueryReader(req.query, ['since', 'until', 'before', 'limit']);
    const since = req.query.since === undefined ? undefined : q.time('since', '0m', now);
    const until = req.query.until === undefined ? undefined : q.time('until', '0m', now);
    // Without until the window ends now: a since in the future is a mistake, not an empty log.
    if (since !== undefined && since > (until ?? now)) {
      q.problem(
        'since',
        until === undefined ? 'must not be in the future' : 'must not be after until',
      );
    }
    // Paging back by sequence number: entries committed together share one `at`, and more of
    // them than a page holds would leave `until` nowhere to go.
    const before =
      req.query.before === undefined ? undefined : q.int('before', 1, 1, Number.MAX_SAFE_INTEGER);
    const limit = q.int('limit', 100, 1, 1000);
    res.json(
      await auditedRead(c, req, 'audit.list', null, () => {
        q.done();
        return c.triage({ op: 'audit', since, until, before, limit });
      }),
    );
  });

  router.get('/v1/audit/verify', admin, async (req, res) => {
    const q = new QueryReader(req.query, []);
    // Walked on a thread of its own (store/audit-verify-thread.ts), then answered, and logged,
    // as any other read: the entry is committed before the answer leaves.
    let verification: Verification | undefined;
    let failure: unknown;
    try {
      q.done();
      verification = await verifyOffThread(c);
    } catch (e) {
      failure = e;
    }
    res.json(
      await audited(c, req, 'audit.verify', null, () => {
        if (failure !== undefined) throw failure;
        return verification!;
      }),
    );
  });

  return router;
}
