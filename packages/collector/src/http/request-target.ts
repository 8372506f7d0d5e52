import type { IncomingMessage } from 'node:http';
import { ApiError } from '@jcs/protocol';

const badTargets = new WeakSet<IncomingMessage>();

/**
 * Puts a request target in absolute form (`GET http://collector/v1/groups`, which RFC 9112 has
 * servers accept, and a proxy may send) in origin form, `/v1/groups?...`, before Express reads it.
 * Express's own parsing (Node's legacy url.parse) gave up on a malformed one
 * (`http://[x/v1/groups`) and answered with its own HTML page before any route, token check or
 * access-log entry, and wrote others (`http://x:port/...`) whole to stderr in a deprecation
 * warning. A target that is neither a path nor an absolute http or https URL (`*`) is routed as
 * `/` and marked, for the app to refuse (badTargetError).
 *
 * @example
 * inOriginForm(req); // req.url 'http://collector/v1/groups?limit=5' becomes '/v1/groups?limit=5'
 */
export function inOriginForm(req: IncomingMessage): void {
  const target = req.url ?? '';
  if (target.startsWith('/')) return;
  let path: string | undefined;
  if (/^https?:\/\//i.test(target) && URL.canParse(target)) {
    // The path as sent, not as URL resolves it: resolved, `/v1/reports/%2e%2e/groups` reached
    // the triage routes, past a proxy that lets only `/v1/reports` through.
    const rest = target.slice(target.indexOf('//') + 2);
    const end = rest.search(/[/?#]/);
    path = end === -1 ? '/' : rest[end] === '/' ? rest.slice(end) : `/${rest.slice(end)}`;
  }
  if (path === undefined) badTargets.add(req);
  req.url = path ?? '/';
}

/**
 * The refusal of a request whose target inOriginForm could not read, or undefined.
 *
 * @example
 * const bad = badTargetError(req); if (bad) return next(bad);
 */
export function badTargetError(req: IncomingMessage): ApiError | undefined {
  if (!badTargets.has(req)) return undefined;
  return new ApiError(
    'invalid_request',
    'The request target is neither a path (/v1/groups) nor an absolute http or https URL.',
    { details: [{ path: '', message: 'must be a path or an absolute http(s) URL' }] },
  );
}
