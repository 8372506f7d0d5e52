import type { Request, RequestHandler } from 'express';
import { ApiError } from '@jcs/protocol';
import type { Collector } from '../collector';
import { parseToken, type Role } from './tokens';
import { limitsOf } from './request-limits';

/** Who made a request, once its token is checked. */
export interface Actor {
  name: string;
  role: Role;
}

const RANK: Record<Role, number> = { ingest: 0, engineer: 1, admin: 2 };

export function actorOf(req: Request): Actor | undefined {
  return (req as Request & { actor?: Actor }).actor;
}

/**
 * Checks the bearer token and the role. `ingest` may only post reports; `engineer` reads and
 * triages; `admin` may do everything. A malformed or mistyped token is refused before any look-up.
 * Engineer and admin requests then take one from the token's read budget (429 beyond it).
 *
 * @example
 * router.get('/v1/audit', requireRole(c, 'admin'), handler);
 */
export function requireRole(
  c: Collector,
  allowed: 'ingest' | 'engineer' | 'admin',
): RequestHandler {
  return (req, _res, next) => {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer +(\S+)\s*$/i.exec(header);
    if (!m)
      return next(
        new ApiError('unauthorized', 'Send a bearer token: Authorization: Bearer <token>.'),
      );
    if (parseToken(m[1]) === null)
      return next(new ApiError('unauthorized', 'The token is malformed or mistyped.'));
    const actor = c.tokens.authenticate(m[1], c.clock());
    if (!actor) return next(new ApiError('unauthorized', 'The token is unknown or revoked.'));
    (req as Request & { actor?: Actor }).actor = actor;
    const permitted =
      allowed === 'ingest'
        ? actor.role === 'ingest'
        : actor.role !== 'ingest' && RANK[actor.role] >= RANK[allowed];
    if (!permitted)
      return next(
        new ApiError(
          'forbidden',
          `This route needs the ${allowed} role; the token has the ${actor.role} role.`,
        ),
      );
    // Reads have their own budget per token; reports are limited in the ingest route, where the
    // licence is known.
    try {
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
    const m = /^Bearer +(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (m && parseToken(m[1]) !== null) {
      const actor = c.tokens.authenticate(m[1], c.clock());
      if (actor) (req as Request & { actor?: Actor }).actor = actor;
    }
    next();
  };
}
