import { getMeta, setMeta, statement, type Db } from './db';
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
  /** several groups (the page of a list): each read by its own range of the aggregates */
  groupIds?: string[];
  version?: string;
}

type Key = string | number;

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
): Map<Key, number> {
  const counts = new Map<Key, number>();
  eachCount(db, w, filter, [key], (k, n) => counts.set(k[0], (counts.get(k[0]) ?? 0) + n));
  for (const [k, n] of counts) if (n === 0) counts.delete(k);
  return counts;
}

/**
 * Occurrences in a window by group and UTC day, every group at once: the same sums as
 * `countOccurrences` (so a group's total is the sum of its days), read in one pass over the
 * window instead of once per group.
 *
 * @example
 * countGroupDays(db, { since, until }, {}); // Map { '3fa9c1d2e4b7' => Map { 20410 => 7, 20411 => 5 } }
 */
export function countGroupDays(
  db: Db,
  w: Window,
  filter: CountFilter,
): Map<string, Map<number, number>> {
  return countByGroup(db, w, filter, 'day') as Map<string, Map<number, number>>;
}

/**
 * The versions each group was seen in during a window: the same sums as `countOccurrences` by
 * version (exact to the millisecond), kept where they are above 0. Give `groupIds` (a list's
 * page) to read only those groups' rows.
 *
 * @example
 * groupVersions(db, { since, until }, { groupIds: ['3fa9c1d2e4b7'] }); // Map { '3fa9c1d2e4b7' => ['5.2.1', '5.1'] }
 */
export function groupVersions(db: Db, w: Window, filter: CountFilter): Map<string, string[]> {
  if (filter.groupIds?.length === 0) return new Map();
  const out = new Map<string, string[]>();
  for (const [group, versions] of countByGroup(db, w, filter, 'version')) {
    out.set(group, [...versions.keys()] as string[]);
  }
  return out;
}

/** Occurrences by group, then by `key`, in one pass; keys (and groups) whose sum is 0 left out. */
function countByGroup(
  db: Db,
  w: Window,
  filter: CountFilter,
  key: 'day' | 'version',
): Map<string, Map<Key, number>> {
  const groups = new Map<string, Map<Key, number>>();
  eachCount(db, w, filter, ['group', key], ([group, k], n) => {
    let counts = groups.get(group as string);
    if (!counts) groups.set(group as string, (counts = new Map()));
    counts.set(k, (counts.get(k) ?? 0) + n);
  });
  for (const [group, counts] of groups) {
    for (const [k, n] of counts) if (n === 0) counts.delete(k);
    if (counts.size === 0) groups.delete(group);
  }
  return groups;
}

/**
 * Calls `add(keys, n)` for each partial sum of the window, keyed by `keys` (in that order). A sum
 * may be negative: a day at an edge of the window that is mostly inside it is read as the whole
 * day less the hours outside, which reads fewer hourly rows (at most 12 an edge, not 23). Keys
 * whose sums come to 0 are for the caller to drop.
 */
function eachCount(
  db: Db,
  w: Window,
  filter: CountFilter,
  keys: CountKey[],
  add: (k: Key[], n: number) => void,
): void {
  if (w.until <= w.since) return;
  const firstHour = Math.ceil(w.since / HOUR_MS);
  const endHour = Math.floor(w.until / HOUR_MS);
  const hours = (from: number, to: number, sign = 1) =>
    fromAggregate(db, keys.includes('line') ? 'group_lines' : 'group_hours', 'hour', from, to, {
      filter,
      keys,
      add: sign > 0 ? add : (k, n) => add(k, -n),
    });
  // The partial hours at the window's edges, from the reports and the occurrences kept of those
  // removed, unless the expiry job may have deleted reports there whose occurrences it did not
  // keep (an edge before the retention's edge as its last run judged it: a window reaching back
  // further than the retention): then the hour's count, whole. Counted from the reports left, a group's count would drop after such a
  // run and come back once the hour had passed; whole, it stays (with the hour's occurrences
  // outside the window, if any).
  const partial = (hour: number, from: number, to: number) => {
    if (from >= to) return;
    if (from <= expiredThrough(db) && from < occurrencesKeptFrom(db)) {
      hours(hour, hour + 1);
    } else {
      fromReports(db, from, to, filter, keys, add);
    }
  };
  const endPartial = () => partial(endHour, Math.max(w.since, endHour * HOUR_MS), w.until);
  const startPartial = (to: number) => partial(Math.floor(w.since / HOUR_MS), w.since, to);
  if (firstHour >= endHour) {
    startPartial(Math.min(w.until, endHour * HOUR_MS));
    endPartial();
    return;
  }
  startPartial(firstHour * HOUR_MS);
  endPartial();

  const days = (from: number, to: number) =>
    fromAggregate(db, 'group_days', 'day', from, to, { filter, keys, add });
  const firstDay = Math.ceil(firstHour / 24);
  const endDay = Math.floor(endHour / 24);
  // Line counts are kept by the hour only; a window inside one day is a few hours.
  if (keys.includes('line') || firstDay > endDay) {
    hours(firstHour, endHour);
    return;
  }
  days(firstDay, endDay);
  const leading = firstDay * 24 - firstHour;
  if (leading > 12) {
    days(firstDay - 1, firstDay);
    hours((firstDay - 1) * 24, firstHour, -1);
  } else {
    hours(firstHour, firstDay * 24);
  }
  const trailing = endHour - endDay * 24;
  if (trailing > 12) {
    days(endDay, endDay + 1);
    hours(endHour, (endDay + 1) * 24, -1);
  } else {
    hours(endDay * 24, endHour);
  }
}

/**
 * Where the expiry job keeps how far it may have deleted (retention/expire.ts): an hour at or
 * before it may have lost reports, so a window's partial edge hour there is counted whole from
 * the hourly counts, which keep every report, rather than from the reports left.
 */
const EXPIRED_THROUGH_KEY = 'expiry_deleted_through';

/** How far any expiry run may have deleted (0 before the first). */
function expiredThrough(db: Db): number {
  return Number(getMeta(db, EXPIRED_THROUGH_KEY) ?? 0);
}

/**
 * Where the expiry job keeps from which moment on every report it deleted left its occurrences
 * in removed_occurrences (retention/deletions.ts).
 */
const KEPT_FROM_KEY = 'expiry_occurrences_kept_from';

/**
 * From when on the reports the expiry job deleted all left their occurrences: a partial hour
 * from there on is counted exactly. Before the first run that kept them, just after everything
 * the job may have deleted without keeping them.
 */
function occurrencesKeptFrom(db: Db): number {
  const kept = getMeta(db, KEPT_FROM_KEY);
  return kept === undefined ? expiredThrough(db) + 1 : Number(kept);
}

/**
 * The removed reports' occurrences received at or before this moment are read by no window any
 * more: an edge there counts its hour whole (eachCount), so the expiry job deletes them.
 */
export function unreadOccurrencesThrough(db: Db): number {
  return Math.min(expiredThrough(db), occurrencesKeptFrom(db) - 1);
}

/** A removed report's occurrence, as removed_occurrences keeps it (nothing personal). */
export interface RemovedOccurrence {
  groupId: string;
  receivedAt: number;
  version: string;
  line: number;
  /** 1 + repeats */
  n: number;
}

/**
 * Keeps the occurrences of a report that is not (or no longer) stored, where a window's partial
 * edge hours look for them beside the reports (eachCount): an erased report, or one the inbox
 * left out as due. The expiry job keeps those of what it deletes in one statement of its own.
 *
 * @example
 * const keep = removedOccurrenceKeeper(db);
 * keep({ groupId: '3fa9c1d2e4b7', receivedAt: Date.now(), version: '5.2', line: 120, n: 1 });
 */
export function removedOccurrenceKeeper(db: Db): (o: RemovedOccurrence) => void {
  const keep = db.prepare<[string, number, string, number, number]>(
    'INSERT INTO removed_occurrences (group_id, received_at, app_version, line, n) VALUES (?, ?, ?, ?, ?)',
  );
  return (o) => keep.run(o.groupId, o.receivedAt, o.version, o.line, o.n);
}

/**
 * Says, before a run deletes anything, that it keeps the occurrences of the reports it deletes
 * that were received at or after `at`, and returns from when on every deleted report has left
 * its occurrences (never earlier than before: what an earlier run deleted from there without
 * keeping them is not in the table). The occurrences before that are no longer read.
 *
 * @example
 * const keptFrom = keepOccurrencesFrom(db, cutoff - DAY_MS);
 */
export function keepOccurrencesFrom(db: Db, at: number): number {
  const from = Math.max(occurrencesKeptFrom(db), at);
  setMeta(db, KEPT_FROM_KEY, String(from));
  return from;
}

/**
 * Raises the mark (never lowers it: a run with an earlier `--now` deletes less) to `at`, in the
 * caller's transaction: each deletion chunk marks what it deletes as it commits, so a run stopped
 * between two chunks leaves nothing it deleted counted as missing, and one that deletes nothing
 * marks nothing.
 *
 * @example
 * db.transaction(() => { deleteOldest(limit); markExpiredThrough(db, lastDeletedAt); })();
 */
export function markExpiredThrough(db: Db, at: number): void {
  if (at > expiredThrough(db)) setMeta(db, EXPIRED_THROUGH_KEY, String(at));
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
  if (filter.groupIds) {
    conds.push(`group_id IN (${filter.groupIds.map(() => '?').join(', ')})`);
    args.push(...filter.groupIds);
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
  {
    filter,
    keys,
    add,
  }: { filter: CountFilter; keys: CountKey[]; add: (k: Key[], n: number) => void },
): void {
  if (to <= from) return;
  // Line counts are not kept per version: a version filter cannot apply to them.
  const versionColumn = table === 'group_lines' ? null : 'version';
  const { conds, args } = where(unit, from, to, filter, versionColumn);
  const columns = keys.map((k) => KEY_SQL[k](unit));
  const sql = `SELECT ${columns.join(', ')}, SUM(count) FROM ${table} WHERE ${conds.join(' AND ')} GROUP BY ${columns.join(', ')}`;
  for (const row of statement(db, sql)
    .raw()
    .all(...args) as Key[][]) {
    add(row, row[keys.length] as number);
  }
}

function fromReports(
  db: Db,
  from: number,
  to: number,
  filter: CountFilter,
  keys: CountKey[],
  add: (k: Key[], n: number) => void,
): void {
  if (to <= from) return;
  const { conds, args } = where('received_at', from, to, filter, 'app_version');
  // With the occurrences of erased and expired reports, which the hourly and daily counts still
  // hold.
  const sql = `SELECT group_id, received_at, app_version, line, 1 + IFNULL(repeats, 0) FROM reports WHERE ${conds.join(' AND ')}
    UNION ALL SELECT group_id, received_at, app_version, line, n FROM removed_occurrences WHERE ${conds.join(' AND ')}`;
  const rows = statement(db, sql)
    .raw()
    .all(...args, ...args) as [string, number, string, number, number][];
  const keyOf: Record<CountKey, (r: [string, number, string, number, number]) => Key> = {
    group: (r) => r[0],
    day: (r) => Math.floor(r[1] / DAY_MS),
    version: (r) => r[2],
    line: (r) => r[3],
  };
  for (const r of rows)
    add(
      keys.map((k) => keyOf[k](r)),
      r[4],
    );
}

/** Number of UTC days a window touches, and the index of a moment's day within it. */
export function windowDays(w: Window): { first: number; length: number } {
  const first = Math.floor(w.since / DAY_MS);
  const last = Math.floor((w.until - 1) / DAY_MS);
  return { first, length: Math.max(0, last - first + 1) };
}
