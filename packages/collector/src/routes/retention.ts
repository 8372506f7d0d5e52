import { Router, type Request } from 'express';
import { ApiError, jsonPointer, type ExpirySummary } from '@jcs/protocol';
import type { Collector } from '../collector';
import { actorOf, requireRole } from '../auth/middleware';
import { audited, auditedRead } from '../http/audited';
import { fewNames, QueryReader } from '../http/query';
import { hasBody, readRequestJson } from '../http/body';
import { runExpiry } from '../retention/expire';

/**
 * Retention routes (admin): `POST /v1/expire` runs the job now (`dryRun` in the query or the
 * body counts without deleting); `GET /v1/status` shows retention compliance.
 */
export function retentionRoutes(c: Collector): Router {
  const router = Router();
  const admin = requireRole(c, 'admin');

  router.post('/v1/expire', admin, async (req, res) => {
    const body = await readOptionalBody(req);
    const q = new QueryReader(req.query, ['dryRun']);
    const fromQuery = q.flag('dryRun');
    q.done();
    const dryRun = parseExpireBody(body) || fromQuery;
    // The job is asynchronous (it yields between chunks), so the access is logged once it is
    // done, with its outcome; the job writes its own receipt as well.
    let summary: ExpirySummary | undefined;
    let failure: unknown;
    try {
      summary = await runExpiry(c, { dryRun, actor: actorOf(req)?.name });
    } catch (e) {
      failure = e;
    }
    res.json(
      await audited(c, req, 'expire.request', null, () => {
        if (failure !== undefined) throw failure;
        return summary!;
      }),
    );
  });

  router.get('/v1/status', admin, async (req, res) => {
    const q = new QueryReader(req.query, []);
    res.json(
      await auditedRead(c, req, 'status.get', null, () => {
        q.done();
        // Counts every stored report (some 40 ms at a million): off the event loop under `serve`.
        return c.triage({ op: 'status' });
      }),
    );
  });

  return router;
}

/** The body is optional: none at all, `{}`, or `{"dryRun": true}`. */
async function readOptionalBody(req: Request): Promise<unknown> {
  if (!hasBody(req)) return {};
  return readRequestJson(req, 1024);
}

function parseExpireBody(body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError('invalid_request', 'The body, when sent, must be a JSON object.', {
      details: [{ path: '', message: 'must be an object' }],
    });
  }
  const b = body as Record<string, unknown>;
  const details = Object.keys(b)
    .filter((k) => k !== 'dryRun')
    .map((k) => ({ path: jsonPointer([k]), message: 'is not a field of this request' }));
  if (b.dryRun !== undefined && typeof b.dryRun !== 'boolean') {
    details.push({ path: '/dryRun', message: 'must be true or false' });
  }
  if (details.length > 0) {
    throw new ApiError('invalid_request', `Bad expire request: check ${fewNames(details)}.`, {
      details,
    });
  }
  return b.dryRun === true;
}
