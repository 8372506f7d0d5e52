import { ApiError, GROUP_ID_PATTERN, UUID_PATTERN } from '@jcs/protocol';
import type { Db } from './db';
import type { Keyring } from '../crypto/keyring';
import type { GroupQuery, GroupStore } from './groups';
import type { ReportReader } from './report-reader';
import type { Window } from './occurrences';
import { retentionStatus } from '../retention/status';
import { listEntries } from './audit';
import { planErasure, type SubjectKey } from './erase';

/**
 * A read for an engineer or an admin, as plain data: what `GET /v1/groups`, `GET /v1/groups/:id`,
 * `GET /v1/groups/:id/reports`, `GET /v1/reports/:id`, `GET /v1/status` and `GET /v1/audit` ask
 * of the stores, and what `POST /v1/erase` must delete, so that it can run on the event loop's
 * connection or on the read thread's (store/triage-thread.ts) alike.
 */
export type TriageRead =
  | { op: 'list'; query: GroupQuery }
  | { op: 'detail'; id: string; window: Window }
  | { op: 'reports'; id: string; limit: number }
  | { op: 'report'; id: string; dump: boolean }
  | { op: 'status' }
  | { op: 'audit'; since?: number; until?: number; before?: number; limit: number }
  | { op: 'erasePlan'; subject: SubjectKey };

/** What a read runs over: the stores of one connection and its keyring. */
export interface TriageStores {
  db: Db;
  keyring: Keyring;
  retentionDays: number;
  groups: GroupStore;
  reports: ReportReader;
}

const UUID = new RegExp(UUID_PATTERN);

/**
 * Runs a read over the stores of one connection, with ages judged as of `now`; call it inside a
 * read transaction, so that it sees one snapshot. Throws a 404 ApiError for a group or report that
 * does not exist.
 *
 * @example
 * db.transaction(() => runTriage(stores, { op: 'reports', id, limit: 20 }, now)).deferred();
 */
export function runTriage(s: TriageStores, read: TriageRead, now: number): unknown {
  switch (read.op) {
    case 'list':
      return s.groups.list(read.query);
    case 'detail':
      return s.groups.detail(mustFind(s.groups, read.id), read.window);
    case 'reports':
      mustFind(s.groups, read.id);
      return { reports: s.reports.shortList(read.id, read.limit) };
    case 'report':
      return mustFindReport(s.reports, read.id, read.dump, s.retentionDays);
    case 'status':
      return retentionStatus(s, now);
    case 'audit':
      return { entries: listEntries(s.db, read) };
    case 'erasePlan':
      // POST /v1/erase finds what to delete here, and deletes it on the writing connection.
      return planErasure(s.db, read.subject);
  }
}

/** The group's row, or a 404 naming where the ids are listed. */
export function mustFind(groups: GroupStore, id: string) {
  const wellFormed = GROUP_ID_PATTERN.test(id);
  const row = wellFormed ? groups.get(id) : undefined;
  // Only an id is repeated back: text of another form may be a name pasted in the wrong place,
  // and personal data stays out of error messages.
  if (!row)
    throw new ApiError(
      'not_found',
      wellFormed
        ? `No group ${id}: list groups with GET /v1/groups.`
        : 'No group has that id (a group id is 12 lowercase hex digits): list groups with GET /v1/groups.',
    );
  return row;
}

/** The whole report, decrypted (its dump too when asked), or a 404. */
function mustFindReport(reports: ReportReader, id: string, dump: boolean, retentionDays: number) {
  const wellFormed = UUID.test(id);
  const report = wellFormed ? reports.full(id, dump) : null;
  if (!report)
    throw new ApiError(
      'not_found',
      wellFormed
        ? `No report ${id}: it may have expired (${retentionDays} days) or been erased.`
        : 'No report has that id (a report id is a lowercase UUID): list reports with GET /v1/groups/:id/reports.',
    );
  return report;
}
