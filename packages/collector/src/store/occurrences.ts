import type { Db } from './db';
import { DAY_MS, HOUR_MS } from '../time';

/** A half-open window [since, until) of receivedAt, in ms. */
export interface Window {
  since: number;
  until: number;
}

/** One slice of counted occurrences: a group, a moment (hour start or exact time), a version. */
interface Slice {
  group_id: string;
  at: number;
  version: string;
  line?: number;
  count: number;
}

/**
 * Occurrences in a window, exact to the millisecond: whole hours inside the window come from the
 * hourly aggregates; the partial hours at either edge from the reports themselves (which are still
 * there, being recent; at edges older than the retention only the hourly figure survives).
 */
export function occurrenceSlices(
  db: Db,
  w: Window,
  filter: { groupId?: string; version?: string; byLine?: boolean },
): Slice[] {
  if (w.until <= w.since) return [];
  const firstWholeHour = Math.ceil(w.since / HOUR_MS);
  const endWholeHour = Math.floor(w.until / HOUR_MS);
  const slices: Slice[] = [];
  const conds: string[] = [];
  const args: (string | number)[] = [];
  if (filter.groupId) {
    conds.push('group_id = ?');
    args.push(filter.groupId);
  }

  if (firstWholeHour < endWholeHour) {
    const table = filter.byLine ? 'group_lines' : 'group_hours';
    const what = filter.byLine ? "line, '' AS version" : 'version';
    const versionCond = filter.version && !filter.byLine ? ['version = ?'] : [];
    const where = [...conds, ...versionCond, 'hour >= ?', 'hour < ?'].join(' AND ');
    const rows = db
      .prepare(
        `SELECT group_id, hour * ${HOUR_MS} AS at, ${what}, count FROM ${table} WHERE ${where}`,
      )
      .all(
        ...args,
        ...(versionCond.length ? [filter.version!] : []),
        firstWholeHour,
        endWholeHour,
      ) as Slice[];
    slices.push(...rows);
    slices.push(...fromReports(db, w.since, firstWholeHour * HOUR_MS, conds, args, filter));
    slices.push(...fromReports(db, endWholeHour * HOUR_MS, w.until, conds, args, filter));
  } else {
    slices.push(...fromReports(db, w.since, w.until, conds, args, filter));
  }
  return slices;
}

function fromReports(
  db: Db,
  from: number,
  to: number,
  conds: string[],
  args: (string | number)[],
  filter: { version?: string },
): Slice[] {
  if (to <= from) return [];
  const versionCond = filter.version ? ['app_version = ?'] : [];
  const where = [...conds, ...versionCond, 'received_at >= ?', 'received_at < ?'].join(' AND ');
  return db
    .prepare(
      `SELECT group_id, received_at AS at, app_version AS version, line, 1 + IFNULL(repeats, 0) AS count FROM reports WHERE ${where}`,
    )
    .all(...args, ...(filter.version ? [filter.version] : []), from, to) as Slice[];
}

/** Number of UTC days a window touches, and the index of a moment's day within it. */
export function windowDays(w: Window): { first: number; length: number } {
  const first = Math.floor(w.since / DAY_MS);
  const last = Math.floor((w.until - 1) / DAY_MS);
  return { first, length: Math.max(0, last - first + 1) };
}
