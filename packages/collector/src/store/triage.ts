import { ApiError, GROUP_ID_PATTERN } from '@jcs/protocol';
import type { GroupQuery, GroupStore } from './groups';
import type { ReportReader } from './report-reader';
import type { Window } from './occurrences';

/**
 * A triage read, as plain data: what `GET /v1/groups`, `GET /v1/groups/:id` and
 * `GET /v1/groups/:id/reports` ask of the stores, so that it can run on the event loop's
 * connection or on the triage thread's (store/triage-thread.ts) alike.
 */
export type TriageRead =
  | { op: 'list'; query: GroupQuery }
  | { op: 'detail'; id: string; window: Window }
  | { op: 'reports'; id: string; limit: number };

/**
 * Runs a triage read over the stores of one connection; call it inside a read transaction, so
 * that it sees one snapshot. Throws a 404 ApiError for a group that does not exist.
 *
 * @example
 * db.transaction(() => runTriage(groups, reports, { op: 'reports', id, limit: 20 })).deferred();
 */
export function runTriage(groups: GroupStore, reports: ReportReader, read: TriageRead): unknown {
  switch (read.op) {
    case 'list':
      return groups.list(read.query);
    case 'detail':
      return groups.detail(mustFind(groups, read.id), read.window);
    case 'reports':
      mustFind(groups, read.id);
      return { reports: reports.shortList(read.id, read.limit) };
  }
}

/** The group's row, or a 404 naming where the ids are listed. */
export function mustFind(groups: GroupStore, id: string) {
  const row = GROUP_ID_PATTERN.test(id) ? groups.get(id) : undefined;
  if (!row)
    throw new ApiError(
      'not_found',
      `No group ${id.slice(0, 40)}: list groups with GET /v1/groups.`,
    );
  return row;
}
