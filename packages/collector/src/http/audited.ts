import type { IncomingMessage } from 'node:http';
import type { Request } from 'express';
import { ApiError } from '@jcs/protocol';
import type { Collector } from '../collector';
import { actorOf, nameActor } from '../auth/middleware';

const AUDITED = Symbol('audited');

/** Report and group ids: lowercase hex and dashes. */
const ID = /^[0-9a-f][0-9a-f-]{0,63}$/;

/**
 * The target as the access log keeps it: an id, or a mark when the client sent something else.
 * A path parameter is whatever a client typed (a user name pasted for a report id, say), and the
 * access log is kept longer than reports: it must never hold what may be personal data.
 *
 * @example
 * auditTarget('3fa9c1d2e4b7'); // '3fa9c1d2e4b7'
 * auditTarget('asmith'); // '(not an id)'
 */
export function auditTarget(target: string | null): string | null {
  if (target === null) return null;
  return ID.test(target) ? target : '(not an id)';
}

/**
 * Runs a read or a change and writes its access-log entry: the entry is on disk before any data
 * leaves, and if the entry cannot be written the access is refused. The outcome ('ok' or the
 * error code) is recorded either way. A change (PATCH, POST) and its entry are one transaction.
 * A read (GET) runs in a read transaction of its own, one consistent snapshot that holds no lock,
 * and its entry is committed after it, with the entries of other requests of the same moment
 * (store/audit-batch.ts): a heavy read (500 groups over ten years) held the database's write
 * lock for its whole length, and every ingest commit waited behind it. Neither waits for its
 * fsync on the event loop.
 *
 * @example
 * res.json(await audited(c, req, 'groups.get', id, () => c.groups.detail(row, window)));
 */
export async function audited<T>(
  c: Collector,
  req: IncomingMessage,
  action: string,
  target: string | null,
  fn: () => T,
): Promise<T> {
  const actor = actorOf(req);
  if (!actor || actor.role === 'ingest') return fn();
  let failure: unknown;
  let result: T | undefined;
  const run = () => {
    try {
      result = fn();
    } catch (e) {
      failure = e;
    }
  };
  const entry = () => ({
    actor: actor.name,
    action,
    target: auditTarget(target),
    outcome: failure === undefined ? 'ok' : failure instanceof ApiError ? failure.code : 'internal',
  });
  const reads = req.method === 'GET' || req.method === 'HEAD';
  try {
    if (reads) {
      try {
        c.db.transaction(run).deferred();
      } catch (e) {
        failure ??= e; // the read transaction itself failed: logged as such below
      }
      await c.auditBatcher.append(entry());
    } else {
      await c.auditBatcher.commitWith(() => {
        run();
        return entry();
      });
    }
  } catch (e) {
    c.log.error({ err: (e as Error).message }, 'access log write failed: access refused');
    throw new ApiError(
      'unavailable',
      'The access could not be logged, so it was refused. Retry shortly.',
      {
        headers: { 'Retry-After': '5' },
      },
    );
  }
  (req as unknown as Record<symbol, boolean>)[AUDITED] = true;
  if (failure !== undefined) throw failure;
  return result as T;
}

/**
 * For engineer and admin requests refused before reaching a handler (bad query, wrong role):
 * the error middleware still logs them, so every request with such a token leaves an entry.
 */
export function auditRefusal(c: Collector, req: Request, err: ApiError): Promise<void> | void {
  // Refused before any route named the actor (a path that is not valid percent-encoding): name
  // it now, so the request is still logged.
  const actor = nameActor(c, req);
  if (!actor || actor.role === 'ingest') return;
  if ((req as unknown as Record<symbol, boolean>)[AUDITED]) return;
  return c.auditBatcher.append({
    actor: actor.name,
    // Never the raw path of an unknown route: it may hold anything the caller typed.
    action: `${req.method} ${req.route?.path ?? '(no route)'}`,
    target: null,
    outcome: err.code,
  });
}
