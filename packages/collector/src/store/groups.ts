import {
  compareVersions,
  sortVersionsDescending,
  type Group,
  type GroupDetail,
  type GroupStatus,
  type ShortReport,
} from '@jcs/protocol';
import type { Db } from './db';
import type { ReportReader } from './report-reader';
import { countOccurrences, windowDays, type Window } from './occurrences';
import { DAY_MS, iso } from '../time';

export type GroupSort = 'count' | 'last' | 'first' | 'users';
export type StatusFilter = GroupStatus | 'all';

export interface GroupQuery {
  window: Window;
  version?: string;
  status: StatusFilter;
  sort: GroupSort;
  limit: number;
}

interface GroupRow {
  id: string;
  app_name: string;
  number: number;
  module: string;
  procedure: string;
  first_seen: number;
  last_seen: number;
  status: GroupStatus;
  resolved_in_version: string | null;
  regressed: number;
}

/**
 * Triage reads over the aggregates. Listing costs a pass over the window's hourly rows, then a
 * few indexed look-ups for each group returned, whatever the number of stored reports.
 */
export class GroupStore {
  constructor(
    private readonly db: Db,
    private readonly reports: ReportReader,
  ) {}

  get(id: string): GroupRow | undefined {
    return this.db.prepare<[string], GroupRow>('SELECT * FROM groups WHERE id = ?').get(id);
  }

  list(q: GroupQuery): Group[] {
    const counts = countOccurrences(this.db, q.window, { version: q.version }, 'group') as Map<
      string,
      number
    >;
    let rows = [...counts.keys()].map((id) => this.get(id)!).filter((g) => g !== undefined);
    if (q.status !== 'all') rows = rows.filter((g) => g.status === q.status);

    const users = new Map<string, { users: number; licences: number }>();
    const subjects = (id: string) => {
      let s = users.get(id);
      if (!s) users.set(id, (s = this.subjects(id, q.window, q.version)));
      return s;
    };
    const by: Record<GroupSort, (a: GroupRow, b: GroupRow) => number> = {
      count: (a, b) => counts.get(b.id)! - counts.get(a.id)!,
      users: (a, b) =>
        subjects(b.id).users - subjects(a.id).users || counts.get(b.id)! - counts.get(a.id)!,
      last: (a, b) => b.last_seen - a.last_seen,
      first: (a, b) => b.first_seen - a.first_seen,
    };
    rows.sort((a, b) => by[q.sort](a, b) || a.id.localeCompare(b.id));
    return rows.slice(0, q.limit).map((g) => this.describe(g, q.window, q.version, subjects(g.id)));
  }

  /** One group as the list shows it, for a window. */
  summary(row: GroupRow, window: Window): Group {
    return this.describe(row, window, undefined, this.subjects(row.id, window));
  }

  detail(row: GroupRow, window: Window, latestLimit = 10): GroupDetail {
    const group = this.summary(row, window);
    const byVersion = countOccurrences(this.db, window, { groupId: row.id }, 'version') as Map<
      string,
      number
    >;
    const byLine = countOccurrences(this.db, window, { groupId: row.id }, 'line') as Map<
      number,
      number
    >;
    const days = windowDays(window);
    return {
      ...group,
      byVersion: [...byVersion]
        .map(([version, count]) => ({ version, count }))
        .sort((a, b) => b.count - a.count || compareVersions(b.version, a.version)),
      byLine: [...byLine]
        .map(([line, count]) => ({ line, count }))
        .sort((a, b) => b.count - a.count || a.line - b.line),
      byDay: group.daily.map((count, i) => ({
        day: iso((days.first + i) * DAY_MS).slice(0, 10),
        count,
      })),
      latest: this.reports.shortList(row.id, latestLimit, window),
    };
  }

  /** Triage: resolve (optionally in a version), ignore or reopen. Clears the regression mark. */
  setStatus(id: string, status: GroupStatus, resolvedInVersion: string | null): void {
    this.db
      .prepare('UPDATE groups SET status = ?, resolved_in_version = ?, regressed = 0 WHERE id = ?')
      .run(status, status === 'resolved' ? resolvedInVersion : null, id);
  }

  private describe(
    g: GroupRow,
    window: Window,
    version: string | undefined,
    subjects: { users: number; licences: number },
  ): Group {
    const days = windowDays(window);
    const daily = new Array<number>(days.length).fill(0);
    let count = 0;
    for (const [day, n] of countOccurrences(this.db, window, { groupId: g.id, version }, 'day')) {
      const i = (day as number) - days.first;
      if (i >= 0 && i < daily.length) daily[i] += n;
      count += n;
    }
    return {
      id: g.id,
      number: g.number,
      module: g.module,
      procedure: g.procedure,
      description: this.reports.latestDescription(g.id),
      count,
      users: subjects.users,
      licences: subjects.licences,
      firstSeen: iso(g.first_seen),
      lastSeen: iso(g.last_seen),
      versions: this.versions(g.id, window),
      status: g.status,
      resolvedInVersion: g.resolved_in_version,
      regressed: g.regressed === 1,
      daily,
    };
  }

  /** Versions seen in the window, newest first (by whole UTC day, from the daily counts). */
  private versions(id: string, w: Window): string[] {
    const days = windowDays(w);
    const rows = this.db
      .prepare<[string, number, number], { version: string }>(
        'SELECT DISTINCT version FROM group_days WHERE group_id = ? AND day >= ? AND day < ?',
      )
      .all(id, days.first, days.first + days.length);
    return sortVersionsDescending(rows.map((r) => r.version));
  }

  /** Distinct users and licences, counted by whole UTC day (the finest grain they are kept at). */
  private subjects(id: string, w: Window, version?: string): { users: number; licences: number } {
    const days = windowDays(w);
    const rows = this.db
      .prepare<unknown[], { kind: number; n: number }>(
        `SELECT kind, COUNT(DISTINCT subject) AS n FROM group_subjects
         WHERE group_id = ? AND day >= ? AND day < ? ${version ? 'AND version = ?' : ''} GROUP BY kind`,
      )
      .all(id, days.first, days.first + days.length, ...(version ? [version] : []));
    return {
      users: rows.find((r) => r.kind === 0)?.n ?? 0,
      licences: rows.find((r) => r.kind === 1)?.n ?? 0,
    };
  }
}

export type { GroupRow, ShortReport };
