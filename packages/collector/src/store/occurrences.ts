import type { Db } from './db';
import { DAY_MS, HOUR_MS } from '../time';

/** A half-open window [since, until) of receivedAt, in ms. */
export interface Window {
  since: number;
  until: number;
}

/** What occurrences are counted by. */
export type CountKey = 'group' | 'day' | 'version' | 'line';

export interface CountFilter {
  groupId?: string;
  version?: string;
}

/**
 * Occurrences (1 + repeats per report) in a window, summed by `key`, exact to the millisecond:
 * whole UTC days inside the window from the daily aggregates, whole hours at its ends from the
 * hourly ones, and the partial hours at either edge from the reports themselves (recent enough
 * to be there; at an edge older than the retention only the hourly figure survives). The sums run
 * in SQL over covering indexes, so a six-week window over a million reports reads a few thousand
 * rows per group. `day` keys are UTC day numbers; `line` counts come from hourly rows only.
 *
 * @example
 * countOccurrences(db, { since, until }, {}, 'group'); // Map { '3fa9c1d2e4b7' => 12, ... }
 */
export function countOccurrences(
  db: Db,
  w: Window,
  filter: CountFilter,
  key: CountKey,
): Map<string | number, number> {
  const counts = new Map<string | number, number>();
  if (w.until <= w.since) return counts;
  const add = (k: string | number, n: number) => counts.set(k, (counts.get(k) ?? 0) + n);

  const firstHour = Math.ceil(w.since / HOUR_MS);
  const endHour = Math.floor(w.until / HOUR_MS);
  if (firstHour >= endHour) {
    fromReports(db, w.since, w.until, filter, key, add);
    return counts;
  }
  fromReports(db, w.since, firstHour * HOUR_MS, filter, key, add);
  fromReports(db, endHour * HOUR_MS, w.until, filter, key, add);

  const firstDay = Math.ceil(firstHour / 24);
  const endDay = Math.floor(endHour / 24);
  if (key !== 'line' && firstDay < endDay) {
    fromAggregate(db, 'group_days', 'day', firstDay, endDay, filter, key, add);
    fromAggregate(db, 'group_hours', 'hour', firstHour, firstDay * 24, filter, key, add);
    fromAggregate(db, 'group_hours', 'hour', endDay * 24, endHour, filter, key, add);
  } else {
    fromAggregate(
      db,
      key === 'line' ? 'group_lines' : 'group_hours',
      'hour',
      firstHour,
      endHour,
      filter,
      key,
      add,
    );
  }
  return counts;
}

const KEY_SQL: Record<CountKey, (unit: 'day' | 'hour') => string> = {
  group: () => 'group_id',
  day: (unit) => (unit === 'day' ? 'day' : 'hour / 24'),
  version: () => 'version',
  line: () => 'line',
};

/** `column` in [from, to), narrowed to the filter's group and version. */
function where(
  column: string,
  from: number,
  to: number,
  filter: CountFilter,
  versionColumn: string | null,
): { conds: string[]; args: (string | number)[] } {
  const conds = [`${column} >= ?`, `${column} < ?`];
  const args: (string | number)[] = [from, to];
  if (filter.groupId) {
    conds.push('group_id = ?');
    args.push(filter.groupId);
  }
  if (filter.version && versionColumn) {
    conds.push(`${versionColumn} = ?`);
    args.push(filter.version);
  }
  return { conds, args };
}

function fromAggregate(
  db: Db,
  table: 'group_days' | 'group_hours' | 'group_lines',
  unit: 'day' | 'hour',
  from: number,
  to: number,
  filter: CountFilter,
  key: CountKey,
  add: (k: string | number, n: number) => void,
): void {
  if (to <= from) return;
  // Line counts are not kept per version: a version filter cannot apply to them.
  const versionColumn = table === 'group_lines' ? null : 'version';
  const { conds, args } = where(unit, from, to, filter, versionColumn);
  const k = KEY_SQL[key](unit);
  const rows = db
    .prepare(
      `SELECT ${k} AS k, SUM(count) AS n FROM ${table} WHERE ${conds.join(' AND ')} GROUP BY ${k}`,
    )
    .all(...args) as { k: string | number; n: number }[];
  for (const r of rows) add(r.k, r.n);
}

function fromReports(
  db: Db,
  from: number,
  to: number,
  filter: CountFilter,
  key: CountKey,
  add: (k: string | number, n: number) => void,
): void {
  if (to <= from) return;
  const { conds, args } = where('received_at', from, to, filter, 'app_version');
  const rows = db
    .prepare(
      `SELECT group_id, received_at, app_version, line, 1 + IFNULL(repeats, 0) AS n FROM reports WHERE ${conds.join(' AND ')}`,
    )
    .all(...args) as {
    group_id: string;
    received_at: number;
    app_version: string;
    line: number;
    n: number;
  }[];
  for (const r of rows) {
    const k =
      key === 'group'
        ? r.group_id
        : key === 'day'
          ? Math.floor(r.received_at / DAY_MS)
          : key === 'version'
            ? r.app_version
            : r.line;
    add(k, r.n);
  }
}

/** Number of UTC days a window touches, and the index of a moment's day within it. */
export function windowDays(w: Window): { first: number; length: number } {
  const first = Math.floor(w.since / DAY_MS);
  const last = Math.floor((w.until - 1) / DAY_MS);
  return { first, length: Math.max(0, last - first + 1) };
}
