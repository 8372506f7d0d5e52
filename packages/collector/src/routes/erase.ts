import { Router } from 'express';
import { fewNames, QueryReader } from '../http/query';
import { ApiError, hasLoneSurrogate, jsonPointer, LIMITS, type ErrorDetail } from '@jcs/protocol';
import type { Collector } from '../collector';
import { actorOf, requireRole } from '../auth/middleware';
import { readRequestJson } from '../http/body';
import {
  applyErasure,
  erasureTarget,
  subjectKey,
  type DataSubject,
  type ErasurePlan,
} from '../store/erase';
import { zeroNotedWipes } from '../store/sealed-wipes';
import { truncateWal } from '../store/truncate-wal';

/**
 * The report schema's bounds for the two fields, counted as it counts them: in characters (code
 * points), so any username or licence ingest took can be erased.
 */
const BOUNDS = { username: LIMITS.username.max, license: LIMITS.license.max } as const;

/**
 * `POST /v1/erase` (admin): destroys every report of one data subject at once and answers
 * `{"erasedReports": N}`. The erasure and its access-log entry (with the count, and the subject
 * only as a keyed hash) commit together or not at all.
 */
export function eraseRoutes(c: Collector): Router {
  const router = Router();
  // One erasure at a time: each one's plan counts on the reports the other would delete.
  let erasing: Promise<unknown> = Promise.resolve();
  router.post('/v1/erase', requireRole(c, 'admin'), async (req, res) => {
    // The subject is named in the body only: one typed into the query string must not be
    // ignored while the body's (someone else's) is erased.
    new QueryReader(req.query, [], true).done();
    const subject = parseSubject(await readRequestJson(req));
    const actor = actorOf(req)!;
    const turn = erasing.then(() => erase(c, subject, actor.name));
    erasing = turn.catch(() => undefined);
    res.json({ erasedReports: await turn });
  });
  return router;
}

/**
 * Finds the subject's reports on the read thread (some 800 ms at a million reports; on the event
 * loop every report waited for it), then deletes them, and writes the access-log entry, in one
 * transaction here (80-110 ms at a million reports, most of it the distinct counts' triggers:
 * docs/performance.md), committed without its fsync and made durable by a sync of the WAL off
 * the event loop (store/audit-batch.ts), before the answer and before the records are zeroed.
 */
async function erase(c: Collector, subject: DataSubject, actor: string): Promise<number> {
  const key = subjectKey(c.keyring, subject);
  let erased = 0;
  try {
    const plan = (await c.triage({ op: 'erasePlan', subject: key })) as ErasurePlan;
    // Reports answered while the plan was made may wait in the inbox (during expiry): folded
    // first, they are among those applyErasure() reads again.
    await c.settled();
    await c.auditBatcher.commitWith(() => {
      erased = applyErasure(c.db, plan);
      return {
        actor,
        action: 'erase',
        target: `${erasureTarget(c.keyring.auditKey, subject)} reports:${erased}`,
        outcome: 'ok',
      };
    });
  } catch (e) {
    c.log.error({ err: (e as Error).message }, 'erasure failed: nothing was erased');
    throw new ApiError(
      'unavailable',
      'The erasure could not be completed and logged, so nothing was erased. Retry shortly.',
      { headers: { 'Retry-After': '5' } },
    );
  }
  // Noted in the same transaction as the erasure: should this fail, the next expiry run zeroes them.
  zeroNotedWipes(c.db, c.log);
  if (!(await truncateWal(c))) {
    // Another process reading the database held the log open; its next checkpoint clears it.
    c.log.warn('write-ahead log not truncated after an erasure: a reader was active');
  }
  return erased;
}

/** Exactly one of `username` and `license`, each within the report schema's bounds. */
function parseSubject(body: unknown): DataSubject {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid('The body must be a JSON object: {"username": "..."} or {"license": "..."}.', [
      { path: '', message: 'must be an object' },
    ]);
  }
  const b = body as Record<string, unknown>;
  const details: ErrorDetail[] = [];
  for (const key of Object.keys(b)) {
    if (key !== 'username' && key !== 'license')
      details.push({ path: jsonPointer([key]), message: 'is not a field of this request' });
  }
  const given = (['username', 'license'] as const).filter((k) => b[k] !== undefined);
  if (given.length === 0) {
    details.push({ path: '/username', message: 'give username or license' });
  } else if (given.length === 2) {
    details.push({ path: '/license', message: 'give username or license, not both' });
  }
  for (const k of given) {
    const v = b[k];
    if (typeof v !== 'string' || v.length < 1 || [...v].length > BOUNDS[k]) {
      details.push({ path: `/${k}`, message: `must be a string of 1 to ${BOUNDS[k]} characters` });
    } else if (hasLoneSurrogate(v)) {
      // Hashed (as UTF-8) as U+FFFD: it would erase another subject, whose name has one there.
      details.push({
        path: `/${k}`,
        message: 'must be valid Unicode text (it holds a lone surrogate)',
      });
    }
  }
  if (details.length > 0) {
    const fields = fewNames(details, (p) => p || '(body)');
    throw invalid(`Bad erasure request: check ${fields}.`, details);
  }
  return given[0] === 'username'
    ? { username: b.username as string }
    : { license: b.license as string };
}

function invalid(message: string, details: ErrorDetail[]): ApiError {
  return new ApiError('invalid_request', message, { details });
}
