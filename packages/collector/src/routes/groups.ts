import { Router, type Request } from 'express';
import {
  ApiError,
  jsonPointer,
  VERSION_PATTERN,
  type Group,
  type GroupStatus,
} from '@jcs/protocol';
import type { Collector } from '../collector';
import { requireRole } from '../auth/middleware';
import { audited, auditedRead } from '../http/audited';
import { mustFind } from '../store/triage';
import { fewNames, QueryReader } from '../http/query';
import { readRequestJson } from '../http/body';
import { DAY_MS } from '../time';
import type { GroupSort, StatusFilter } from '../store/groups';

const SORTS: readonly GroupSort[] = ['count', 'last', 'first', 'users'];
const STATUS_FILTERS: readonly StatusFilter[] = ['unresolved', 'resolved', 'ignored', 'all'];
const STATUSES: readonly GroupStatus[] = ['unresolved', 'resolved', 'ignored'];
const VERSION = new RegExp(VERSION_PATTERN);
/** Matches of a group id prefix answered at once: enough to show an engineer the choice. */
const PREFIX_MATCHES = 20;

/** Triage routes: list groups, one group, its reports, and status changes. */
export function groupRoutes(c: Collector): Router {
  const router = Router();
  const engineer = requireRole(c, 'engineer');

  router.get('/v1/groups', engineer, async (req, res) => {
    const now = c.clock();
    const q = new QueryReader(req.query, ['since', 'until', 'version', 'status', 'sort', 'limit']);
    const { since, until, end } = q.window('7d', now);
    const version = q.string('version', 64);
    if (version !== undefined && !VERSION.test(version))
      q.problem('version', 'must be dotted numbers such as 5.2.1');
    const status = q.oneOf('status', 'unresolved', STATUS_FILTERS);
    const sort = q.oneOf('sort', 'count', SORTS);
    const limit = q.int('limit', 20, 1, 500);
    const groups = await auditedRead(c, req, 'groups.list', null, () => {
      q.done();
      const query = { window: { since, until: end }, version, status, sort, limit };
      return c.triage({ op: 'list', query });
    });
    res.json({ groups, window: windowJson({ since, until }) });
  });

  // Not in the contract: how jcs-errors resolves a group id prefix (as git does a hash) over
  // every group, not only those a window of GET /v1/groups lists.
  router.get('/v1/group-ids', engineer, async (req, res) => {
    const q = new QueryReader(req.query, ['prefix']);
    const prefix = q.string('prefix', 12);
    if (prefix !== undefined && !/^[0-9a-f]{1,12}$/.test(prefix))
      q.problem('prefix', 'must be 1 to 12 lowercase hex digits, the start of a group id');
    if (req.query.prefix === undefined) q.problem('prefix', 'is required');
    res.json(
      await audited(c, req, 'groups.ids', null, () => {
        q.done();
        const found = c.groups.withPrefix(prefix as string, PREFIX_MATCHES + 1);
        return { groups: found.slice(0, PREFIX_MATCHES), more: found.length > PREFIX_MATCHES };
      }),
    );
  });

  router.get('/v1/groups/:id', engineer, async (req, res) => {
    const now = c.clock();
    const q = new QueryReader(req.query, ['since', 'until']);
    const { since, end } = q.window('6w', now);
    const id = groupParam(req);
    res.json(
      await auditedRead(c, req, 'groups.get', id, () => {
        q.done();
        return c.triage({ op: 'detail', id, window: { since, until: end } });
      }),
    );
  });

  router.patch('/v1/groups/:id', engineer, async (req, res) => {
    const id = groupParam(req);
    const body = await readRequestJson(req);
    const now = c.clock();
    const q = new QueryReader(req.query, [], true);
    res.json(
      await audited(c, req, TRIAGE_ACTION, id, () => {
        // The change is in the body only (?status=ignored must not be silently ignored).
        q.done();
        const { status, resolvedInVersion } = parseTriage(body);
        mustFind(c.groups, id);
        c.groups.setStatus(id, status, resolvedInVersion);
        // The answer is the group as GET /v1/groups shows it by default: the last 7 days.
        return c.groups.summary(mustFind(c.groups, id), {
          since: now - 7 * DAY_MS,
          until: now + 1,
        });
      }),
    );
  });

  router.get('/v1/groups/:id/reports', engineer, async (req, res) => {
    const q = new QueryReader(req.query, ['limit']);
    const limit = q.int('limit', 20, 1, 500);
    const id = groupParam(req);
    res.json(
      await auditedRead(c, req, 'groups.reports', id, () => {
        q.done();
        return c.triage({ op: 'reports', id, limit });
      }),
    );
  });

  return router;
}

/**
 * A triage change is logged by what it did, so the access log tells who resolved a group from who
 * reopened it; a refused one (a bad body, no such group) as `groups.update`.
 */
const TRIAGE_ACTION = {
  ok: (group: Group) =>
    group.status === 'resolved'
      ? 'groups.resolve'
      : group.status === 'ignored'
        ? 'groups.ignore'
        : 'groups.reopen',
  refused: 'groups.update',
};

function groupParam(req: Request): string {
  return String(req.params.id);
}

function windowJson(w: { since: number; until: number }) {
  return { since: new Date(w.since).toISOString(), until: new Date(w.until).toISOString() };
}

function parseTriage(body: unknown): { status: GroupStatus; resolvedInVersion: string | null } {
  const details: { path: string; message: string }[] = [];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError('invalid_request', 'The body must be a JSON object with a status.', {
      details: [{ path: '', message: 'must be an object' }],
    });
  }
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) {
    if (key !== 'status' && key !== 'resolvedInVersion')
      details.push({ path: jsonPointer([key]), message: 'is not a field of this request' });
  }
  if (!STATUSES.includes(b.status as GroupStatus)) {
    details.push({ path: '/status', message: `must be one of ${STATUSES.join(', ')}` });
  }
  const v = b.resolvedInVersion;
  if (v !== undefined && v !== null) {
    if (typeof v === 'string' && (v.length === 0 || v.length > 64)) {
      details.push({ path: '/resolvedInVersion', message: 'must be 1 to 64 characters' });
    } else if (typeof v !== 'string' || !VERSION.test(v)) {
      details.push({ path: '/resolvedInVersion', message: 'must be dotted numbers such as 5.3' });
    } else if (b.status !== 'resolved') {
      details.push({ path: '/resolvedInVersion', message: 'goes only with status resolved' });
    }
  }
  if (details.length > 0) {
    throw new ApiError('invalid_request', `Bad triage request: check ${fewNames(details)}.`, {
      details,
    });
  }
  return { status: b.status as GroupStatus, resolvedInVersion: typeof v === 'string' ? v : null };
}
