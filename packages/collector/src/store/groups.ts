import {
  newestFirst,
  sortVersionsDescending,
  type Group,
  type GroupDetail,
  type GroupStatus,
  type ShortReport,
} from '@jcs/protocol';
import { statement, type Db } from './db';
import type { ReportReader } from './report-reader';
import { dailyTrend } from './daily-trend';
import {
  countGroupDays,
  countOccurrences,
  groupVersions,
  windowDays,
  type Window,
} from './occurrences';
import { type Subjects } from './subject-days';
import { windowSubjects } from './window-subjects';
import { DAY_MS, dayName, iso } from '../time';

export type GroupSort = 'count' | 'last' | 'first' | 'users';
export type StatusFilter = GroupStatus | 'all';

export interface GroupQuery {
  window: Window;
  version?: string;
  status: StatusFilter;
  sort: GroupSort;
  limit: number;
}

/** A group's row as far as ordering a list needs it. */
type OrderKey = Pick<GroupRow, 'id' | 'first_seen' | 'last_seen'>;

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

const NO_SUBJECTS: Subjects = { users: 0, licences: 0 };

/**
 * Triage reads over the aggregates. Listing costs one pass over the window's daily and hourly rows
 * for every group at once (bounded by groups and days, not reports), then a few indexed look-ups
 * for each group returned; with `sort=users`, the distinct counts of every group in the window.
 */
export class GroupStore {
  constructor(
    private readonly db: Db,
    private readonly reports: ReportReader,
  ) {}

  get(id: string): GroupRow | undefined {
    return statement(this.db, 'SELECT * FROM groups WHERE id = ?').get(id) as GroupRow | undefined;
  }

  /**
   * The groups whose id starts with `prefix` (lowercase hex), in id order, at most `limit`: how a
   * short id typed by an engineer is resolved, over every group the collector knows, whatever
   * its activity or status.
   *
   * @example
   * groups.withPrefix('3fa9', 21); // [{ id: '3fa9c1d2e4b7', module: 'modInvoice', procedure: 'Post' }]
   */
  withPrefix(prefix: string, limit: number): { id: string; module: string; procedure: string }[] {
    // 'g' sorts after every hex digit: [prefix, prefix + 'g') is exactly the ids it starts.
    return statement(
      this.db,
      'SELECT id, module, procedure FROM groups WHERE id >= ? AND id < ? ORDER BY id LIMIT ?',
    ).all(prefix, `${prefix}g`, limit) as { id: string; module: string; procedure: string }[];
  }

  list(q: GroupQuery): Group[] {
    const byDay = countGroupDays(this.db, q.window, { version: q.version });
    const counts = new Map<string, number>();
    for (const [id, days] of byDay) counts.set(id, sum(days.values()));
    // Only what ordering needs, for every group of the window: a window may hold very many
    // groups (anyone with the ingest token can make them), and their names and texts are read
    // for the page alone.
    const rows = this.orderKeys(q.status).filter((g) => counts.has(g.id));

    const ranked =
      q.sort === 'users'
        ? windowSubjects(
            this.db,
            rows.map((g) => g.id),
            q.window,
            this.subjectOptions(q.version),
          )
        : undefined;
    const users = (id: string) => Math.min((ranked?.get(id) ?? NO_SUBJECTS).users, counts.get(id)!);
    const by: Record<GroupSort, (a: OrderKey, b: OrderKey) => number> = {
      count: (a, b) => counts.get(b.id)! - counts.get(a.id)!,
      users: (a, b) => users(b.id) - users(a.id) || counts.get(b.id)! - counts.get(a.id)!,
      last: (a, b) => b.last_seen - a.last_seen,
      first: (a, b) => b.first_seen - a.first_seen,
    };
    rows.sort((a, b) => by[q.sort](a, b) || a.id.localeCompare(b.id));
    const page = rows
      .slice(0, q.limit)
      .map((k) => this.get(k.id))
      .filter((g): g is GroupRow => g !== undefined);
    // Distinct counts only for the groups shown, unless they decided the order.
    const subjects =
      ranked ??
      windowSubjects(
        this.db,
        page.map((g) => g.id),
        q.window,
        this.subjectOptions(q.version),
      );
    const versions = groupVersions(this.db, q.window, {
      version: q.version,
      groupIds: page.map((g) => g.id),
    });
    const trends = dailyTrend(
      this.db,
      q.window,
      new Map(page.map((g) => [g.id, byDay.get(g.id)!])),
      { version: q.version },
    );
    return page.map((g) =>
      this.describe(
        g,
        byDay.get(g.id)!,
        trends.get(g.id)!,
        subjects.get(g.id) ?? NO_SUBJECTS,
        versions.get(g.id) ?? [],
      ),
    );
  }

  /** Distinct counts leave out reports past their age, as reads do, whether or not expiry ran. */
  private subjectOptions(version?: string) {
    return { version, pastAge: this.reports.cutoff() };
  }

  /** One group as the list shows it, for a window. */
  summary(
    row: GroupRow,
    window: Window,
    byVersion = this.byVersion(row.id, window),
    byDay = this.byDay(row.id, window),
  ): Group {
    const trend = dailyTrend(this.db, window, new Map([[row.id, byDay]]), {}).get(row.id)!;
    const subjects =
      windowSubjects(this.db, [row.id], window, this.subjectOptions()).get(row.id) ?? NO_SUBJECTS;
    return this.describe(row, byDay, trend, subjects, [...byVersion.keys()]);
  }

  detail(row: GroupRow, window: Window, latestLimit = 10): GroupDetail {
    const byVersion = this.byVersion(row.id, window);
    const counts = this.byDay(row.id, window);
    const group = this.summary(row, window, byVersion, counts);
    const byLine = countOccurrences(this.db, window, { groupId: row.id }, 'line') as Map<
      number,
      number
    >;
    const days = windowDays(window);
    return {
      ...group,
      byVersion: [...byVersion]
        .map(([version, count]) => ({ version, count }))
        .sort((a, b) => b.count - a.count || newestFirst(a.version, b.version)),
      byLine: [...byLine]
        .map(([line, count]) => ({ line, count }))
        .sort((a, b) => b.count - a.count || a.line - b.line),
      byDay: Array.from({ length: days.length }, (_, i) => ({
        day: dayName((days.first + i) * DAY_MS),
        count: counts.get(days.first + i) ?? 0,
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

  /** What ordering the groups of a status (or all) needs: no names, no texts. */
  private orderKeys(status: StatusFilter): OrderKey[] {
    const columns = 'SELECT id, first_seen, last_seen FROM groups';
    return status === 'all'
      ? (statement(this.db, columns).all() as OrderKey[])
      : (statement(this.db, `${columns} WHERE status = ?`).all(status) as OrderKey[]);
  }

  /**
   * A group as the API shows it, from its occurrences by UTC day in the window and by its
   * 24-hour periods (daily-trend.ts).
   */
  private describe(
    g: GroupRow,
    byDay: Map<number, number>,
    daily: number[],
    subjects: Subjects,
    versions: string[],
  ): Group {
    const count = sum(byDay.values());
    return {
      id: g.id,
      number: g.number,
      module: g.module,
      procedure: g.procedure,
      description: this.reports.latestDescription(g.id),
      count,
      // Exact, unless the window's edge days hold so many reports that they count whole
      // (store/window-subjects.ts): never more than the occurrences in the window, though.
      users: Math.min(subjects.users, count),
      licences: Math.min(subjects.licences, count),
      firstSeen: iso(g.first_seen),
      lastSeen: iso(g.last_seen),
      versions: sortVersionsDescending(versions),
      status: g.status,
      resolvedInVersion: g.resolved_in_version,
      regressed: g.regressed === 1,
      daily,
    };
  }

  /** Occurrences in the window by UTC day, exact to the millisecond. */
  private byDay(id: string, window: Window): Map<number, number> {
    return countOccurrences(this.db, window, { groupId: id }, 'day') as Map<number, number>;
  }

  /** Occurrences in the window by version, exact to the millisecond (so are the `versions`). */
  private byVersion(id: string, window: Window): Map<string, number> {
    return countOccurrences(this.db, window, { groupId: id }, 'version') as Map<string, number>;
  }
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

export type { GroupRow, ShortReport };
