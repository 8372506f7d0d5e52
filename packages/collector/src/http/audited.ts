import type { IncomingMessage } from 'node:http';
import type { Request } from 'express';
import { ApiError, GROUP_ID_PATTERN, UUID_PATTERN } from '@jcs/protocol';
import type { Collector } from '../collector';
import { actorOf, nameActor } from '../auth/middleware';
import { toApiError } from './errors';

const AUDITED = Symbol('audited');

/** A report id (a UUID as the SDK makes it) and a group id are the only targets the log keeps. */
const REPORT_ID = new RegExp(UUID_PATTERN);

/**
 * The target as the access log keeps it: an id, or a mark when the client sent something else.
 * A path parameter is whatever a client typed (a user name, a date of birth or a phone number
 * pasted for an id, say), and the access log is kept longer than reports and never erased: it
 * must never hold what may be personal data. So only the exact forms of ids are kept, and twelve
 * digits (a phone or customer number as much as a group id) only where the request went through:
 * a group id of digits alone is rare, and one that was found is kept.
 *
 * @example
 * auditTarget('3fa9c1d2e4b7', 'ok'); // '3fa9c1d2e4b7'
 * auditTarget('asmith', 'not_found'); // '(not an id)'
 * auditTarget('061234567890', 'not_found'); // '(not an id)'
 */
function auditTarget(target: string | null, outcome: string): string | null {
  if (target === null) return null;
  if (REPORT_ID.test(target)) return target;
  if (GROUP_ID_PATTERN.test(target) && (outcome === 'ok' || /[a-f]/.test(target))) return target;
  return '(not an id)';
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
 * res.json(await audited(c, req, 'groups.ids', null, () => c.groups.withPrefix('3fa9', 10)));
 */
export async function audited<T>(
  c: Collector,
  req: IncomingMessage,
  action: Action<T>,
  target: string | null,
  fn: () => T,
): Promise<T> {
  const actor = actorOf(req);
  if (!actor || actor.role === 'ingest') return fn();
  const entry = (o: Outcome<T>) => entryFor(actor.name, action, target, o);
  if (req.method === 'GET' || req.method === 'HEAD') {
    let o: Outcome<T>;
    try {
      o = c.db.transaction(() => attempt(fn)).deferred();
    } catch (error) {
      o = { error }; // the read transaction itself failed: logged as such
    }
    return logged(
      c,
      req,
      () => o,
      () => c.auditBatcher.append(entry(o)),
    );
  }
  let o: Outcome<T> = { error: new Error('not run') };
  return logged(
    c,
    req,
    () => o,
    () =>
      c.auditBatcher.commitWith(() => {
        o = attempt(fn);
        return entry(o);
      }),
  );
}

/**
 * `audited()` for a read that runs elsewhere and takes its own snapshot (`c.triage()`, on the
 * triage thread): the entry is written once it has answered, and on disk before its data leaves.
 *
 * @example
 * res.json(await auditedRead(c, req, 'groups.list', null, () => c.triage({ op: 'list', query })));
 */
export async function auditedRead<T>(
  c: Collector,
  req: IncomingMessage,
  action: string,
  target: string | null,
  read: () => Promise<T>,
): Promise<T> {
  const actor = actorOf(req);
  let o: Outcome<T>;
  try {
    o = { value: await read() };
  } catch (error) {
    o = { error };
  }
  if (!actor || actor.role === 'ingest') return unwrap(o);
  return logged(
    c,
    req,
    () => o,
    () => c.auditBatcher.append(entryFor(actor.name, action, target, o)),
  );
}

/**
 * An entry's action: a name, or for a change whose name depends on what it did (a PATCH that
 * resolves, ignores or reopens), a function of its value, used only when it succeeded.
 */
type Action<T> = string | { ok: (value: T) => string; refused: string };

/** What a read or change came to: its value, or what it threw. */
type Outcome<T> = { value: T; error?: undefined } | { error: unknown };

function attempt<T>(fn: () => T): Outcome<T> {
  try {
    return { value: fn() };
  } catch (error) {
    return { error };
  }
}

function unwrap<T>(o: Outcome<T>): T {
  if ('value' in o) return o.value;
  throw o.error;
}

function entryFor<T>(actor: string, action: Action<T>, target: string | null, o: Outcome<T>) {
  // The code the client was answered with: a storage failure is `unavailable`, as its 503 says.
  const outcome = 'value' in o ? 'ok' : toApiError(o.error).code;
  const name =
    typeof action === 'string' ? action : 'value' in o ? action.ok(o.value) : action.refused;
  return { actor, action: name, target: auditTarget(target, outcome), outcome };
}

/**
 * Writes the entry, then answers the outcome: a 503 when the entry could not be written, whatever
 * the outcome was. `outcome` is read after the write (a change runs inside it).
 */
async function logged<T>(
  c: Collector,
  req: IncomingMessage,
  outcome: () => Outcome<T>,
  write: () => Promise<void>,
): Promise<T> {
  try {
    await write();
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
  return unwrap(outcome());
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

/**
 * The access-log entry of a request the server refused before any route saw it (server.ts: one
 * too many pipelined on its connection, or a `CONNECT`): for `listen`'s onRefusal. A failed
 * write is logged, as nothing waits for it.
 *
 * @example
 * await listen(app, { host, port, onRefusal: auditServerRefusal(c) });
 */
export function auditServerRefusal(
  c: Collector,
): (req: IncomingMessage, refusal: ApiError) => void {
  return (req, refusal) => {
    const written = auditRefusal(c, req as Request, refusal);
    written?.catch((e: unknown) =>
      c.log.error({ err: (e as Error).message }, 'access log write failed for a refused request'),
    );
  };
}
