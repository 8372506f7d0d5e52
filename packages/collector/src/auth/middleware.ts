import type { IncomingMessage } from 'node:http';
import type { RequestHandler } from 'express';
import { ApiError } from '@jcs/protocol';
import { checkHost } from '../http/host-header';
import { headerLines } from '../http/header-lines';
import type { Collector } from '../collector';
import { parseToken, type Role } from './tokens';
import { limitsOf } from './request-limits';

/** Who made a request, once its token is checked. */
export interface Actor {
  name: string;
  role: Role;
  /** a revoked token's owner, named only so that the refusal is logged (nameActor) */
  revoked?: true;
}

type WithActor = IncomingMessage & { actor?: Actor };

const BEARER = /^Bearer +(\S+)\s*$/i;

export function actorOf(req: IncomingMessage): Actor | undefined {
  return (req as WithActor).actor;
}

/**
 * Checks the bearer token and the role, and names the request's actor (actorOf) as soon as the
 * token is known, so that a refusal for the role is still logged under its name. `ingest` may only
 * post reports; `engineer` reads and triages; `admin` may do all of that and the admin routes
 * (the contract's "admin may do all that"). A malformed or mistyped token is refused before any
 * look-up. Throws 401 `unauthorized` or 403 `forbidden`.
 *
 * @example
 * const actor = authenticate(c, req, 'ingest'); // { name: 'app', role: 'ingest' }
 */
export function authenticate(c: Collector, req: IncomingMessage, allowed: Role): Actor {
  return admit(req, c.tokens.authenticate(bearerToken(req), c.clock()), allowed);
}

/**
 * authenticate() with the look-up shared by the requests of one turn of the event loop
 * (TokenStore.authenticateSoon): for `POST /v1/reports`, where it is most of the traffic.
 *
 * @example
 * const actor = await authenticateSoon(c, req, 'ingest');
 */
export async function authenticateSoon(
  c: Collector,
  req: IncomingMessage,
  allowed: Role,
): Promise<Actor> {
  const token = bearerToken(req);
  return admit(req, await c.tokens.authenticateSoon(token, c.clock()), allowed);
}

/** The request's bearer token; 401 when there is none or it is malformed (no look-up needed). */
function bearerToken(req: IncomingMessage): string {
  if (headerLines(req, 'authorization') > 1) {
    // Node keeps the first; a proxy in front may pass on the last: no guessing whose request.
    throw new ApiError('unauthorized', 'Send one Authorization header, not several.');
  }
  const m = BEARER.exec(req.headers.authorization ?? '');
  if (!m) throw new ApiError('unauthorized', 'Send a bearer token: Authorization: Bearer <token>.');
  if (parseToken(m[1]) === null) {
    throw new ApiError('unauthorized', 'The token is malformed or mistyped.');
  }
  return m[1];
}

function admit(req: IncomingMessage, actor: Actor | null, allowed: Role): Actor {
  if (!actor) throw new ApiError('unauthorized', 'The token is unknown or revoked.');
  (req as WithActor).actor = actor;
  if (actor.role !== allowed && actor.role !== 'admin') {
    throw new ApiError(
      'forbidden',
      `This route needs ${allowed === 'admin' ? 'an admin' : `an ${allowed} or admin`} token; this one has the ${actor.role} role.`,
    );
  }
  return actor;
}

/**
 * authenticate() as Express middleware. Engineer and admin requests then take one from the token's
 * read budget (429 beyond it); reports are limited in the ingest route, where the licence is known.
 *
 * @example
 * router.get('/v1/audit', requireRole(c, 'admin'), handler);
 */
export function requireRole(c: Collector, allowed: Role): RequestHandler {
  return (req, _res, next) => {
    try {
      const actor = authenticate(c, req, allowed);
      checkHost(req);
      if (allowed !== 'ingest') limitsOf(req)?.takeRead(actor);
    } catch (e) {
      return next(e);
    }
    next();
  };
}

/**
 * Names the actor of a request that reached no route, without refusing anything: so that an
 * engineer's or admin's request to an unknown route is still written to the access log.
 */
export function identifyActor(c: Collector): RequestHandler {
  return (req, _res, next) => {
    nameActor(c, req);
    next();
  };
}

/**
 * The actor of a request whose token no route has checked yet, kept on the request: the owner of
 * a live token, or of a revoked one (marked `revoked`), so that a request made with an old
 * engineer or admin token is still logged under its name; undefined for no token or an unknown
 * one. Refuses and grants nothing: every route checks the token itself (authenticate).
 */
export function nameActor(c: Collector, req: IncomingMessage): Actor | undefined {
  const known = actorOf(req);
  if (known) return known;
  for (const token of sentTokens(req)) {
    const live = c.tokens.authenticate(token, c.clock());
    const revoked = live ? null : c.tokens.revokedActor(token);
    const actor: Actor | null = live ?? (revoked && { ...revoked, revoked: true });
    if (actor) {
      (req as WithActor).actor = actor;
      break;
    }
  }
  return actorOf(req);
}

/**
 * A whole engineer's or admin's token anywhere in a header's value, not part of a longer word
 * (an ingest token names no one the log keeps, and ships in every desktop install).
 */
const TOKEN_IN_TEXT = /(?<![0-9A-Za-z_])jcs_(?:eng|adm)_[0-9A-Za-z]{38}(?![0-9A-Za-z])/g;
/**
 * At most this many looked up for one refused request: each costs two look-ups on the event loop,
 * and a 16 KiB head holds some 350 forged tokens (their checksum is public).
 */
const MAX_NAMED_TOKENS = 4;

/**
 * The tokens a request carries, for naming whom to log: the bearer token, or, where the header
 * is refused as it is (two Authorization headers, a tab after "Bearer"), every whole token in
 * any of them. Someone who sent an engineer's token made the request with it, however they
 * wrapped it, and the contract logs every such request.
 */
function sentTokens(req: IncomingMessage): string[] {
  const m =
    headerLines(req, 'authorization') === 1 ? BEARER.exec(req.headers.authorization ?? '') : null;
  if (m) return parseToken(m[1]) === null ? [] : [m[1]];
  const found = new Set<string>();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length && found.size < MAX_NAMED_TOKENS; i += 2) {
    if (raw[i].toLowerCase() !== 'authorization') continue;
    for (const t of raw[i + 1].match(TOKEN_IN_TEXT) ?? []) {
      if (found.size < MAX_NAMED_TOKENS && parseToken(t) !== null) found.add(t);
    }
  }
  return [...found];
}
