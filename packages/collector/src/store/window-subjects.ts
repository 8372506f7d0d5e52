import { statement, type Db } from './db';
import { windowDays, type Window } from './occurrences';
import { countSubjects, LICENCE, subjectsFrom, USER, type Subjects } from './subject-days';
import { DAY_MS } from '../time';

/**
 * Past this many reports received in a window's partial edge days (all groups together), distinct
 * users and licences count those days whole instead of reading their reports. Read exactly, each
 * edge report costs some 6 microseconds, and 9 after another connection's commit (every request's
 * access-log entry, every batch of ingest) has emptied the read connection's page cache: at a
 * million stored reports (some 24,000 a day) `GET /v1/groups` took 17 ms with the edge counted
 * whole, 28 ms reading 500 edge reports, 36-49 ms reading 1,900 and 58 ms reading 4,800. So only
 * small edges are read (docs/api.md and docs/performance.md say more).
 */
export const EXACT_EDGE_REPORTS = 1_500;

/**
 * Distinct users and licences of each group in a window, exact to the millisecond: the whole UTC
 * days inside it from the per-day counts (countSubjects), and the subjects of the reports received
 * in its partial first and last days that none of those whole days has, read from the reports
 * themselves. Where those partial days hold more than `maxEdgeReports` reports, they count whole
 * (a user seen on the day `since` falls in, before it, counts), never more than the window's count
 * for the caller to cap. With `pastAge`, reports received at or before it count nothing (in the
 * approximate case, neither does the rest of the day it falls in).
 *
 * @example
 * windowSubjects(db, ['3fa9c1d2e4b7'], { since, until }, { pastAge: cutoff }); // Map { '3fa9c1d2e4b7' => { users: 3, licences: 2 } }
 */
export function windowSubjects(
  db: Db,
  ids: string[],
  window: Window,
  options: { version?: string; maxEdgeReports?: number; pastAge?: number } = {},
): Map<string, Subjects> {
  const { version, maxEdgeReports = EXACT_EDGE_REPORTS, pastAge } = options;
  // Reports received at or before `pastAge` count no user or licence, as they read as gone.
  const w =
    pastAge === undefined || window.since > pastAge
      ? window
      : { since: pastAge + 1, until: window.until };
  if (w.since >= w.until) return new Map(ids.map((id) => [id, { users: 0, licences: 0 }]));
  // Whole days [a, b); the edges are what the window holds of the days either side. Days before
  // the horizon have no subject rows left, yet the day just before it keeps its reports received
  // after the last expiry's cut-off: like an edge, such days are read from their reports.
  const a = Math.max(Math.ceil(w.since / DAY_MS), subjectsFrom(db));
  const b = Math.floor(w.until / DAY_MS);
  const received = (from: number, to: number) =>
    statement(db, 'SELECT COUNT(*) FROM reports WHERE received_at >= ? AND received_at < ?')
      .pluck()
      .get(from, to) as number;
  // The last partial day counts whole when nothing of it came after the window (an `until` of
  // now, as every default window has): its subjects up to `until` are all of its subjects. Only
  // the first edge is then read from the reports, and a day's reports there stop mattering.
  const lastWhole =
    a <= b &&
    w.until > b * DAY_MS &&
    statement(db, 'SELECT 1 FROM reports WHERE received_at >= ? AND received_at < ? LIMIT 1')
      .pluck()
      .get(w.until, (b + 1) * DAY_MS) === undefined;
  const end = lastWhole ? b + 1 : b;
  const edges: [number, number][] =
    a > b
      ? [[w.since, w.until]]
      : [
          [w.since, a * DAY_MS],
          [b * DAY_MS, lastWhole ? b * DAY_MS : w.until],
        ];
  const partial = edges.filter(([from, to]) => to > from);
  if (partial.reduce((n, [from, to]) => n + received(from, to), 0) > maxEdgeReports) {
    // Edges counted whole, but for the day the age cut-off falls in: whole, it would count the
    // subjects of its reports past their age.
    const days = windowDays(w);
    const clipped = w !== window && w.since % DAY_MS !== 0;
    return countSubjects(
      db,
      ids,
      clipped ? { first: days.first + 1, length: days.length - 1 } : days,
      version,
    );
  }
  const whole =
    end > a
      ? countSubjects(db, ids, { first: a, length: end - a }, version)
      : new Map<string, Subjects>();
  const out = new Map<string, Subjects>();
  for (const id of ids) out.set(id, { ...(whole.get(id) ?? { users: 0, licences: 0 }) });

  // The partial days' subjects, per group, once each, and of those the ones no whole day has:
  // one statement, so each report and each look-up costs SQLite's time and not a call from here
  // (a quarter less time at the edges of the default window at a million reports).
  if (partial.length === 0) return out;
  const [first, last = [0, 0]] = partial;
  const rows = statement(db, version === undefined ? EDGE_SUBJECTS : EDGE_SUBJECTS_OF_VERSION)
    .raw()
    .all({
      since1: first[0],
      until1: first[1],
      since2: last[0],
      until2: last[1],
      ids: JSON.stringify(ids),
      from: a,
      end,
      ...(version === undefined ? {} : { version }),
    }) as [string, number, number][];
  for (const [group, kind, n] of rows) {
    const counts = out.get(group)!;
    if (kind === USER) counts.users += n;
    else counts.licences += n;
  }
  return out;
}

/**
 * The subjects of the reports received in one or two spans (`since1`-`until1`, `since2`-`until2`:
 * a window's partial edge days) of the groups in `ids` (a JSON array), counted by group and kind,
 * but for those seen in the group on a day in [from, end) (the window's whole days, counted
 * already). With `version`, of that version's reports and rows only.
 */
function edgeSubjects(version: boolean): string {
  const ofVersion = (column: string) => (version ? `AND ${column} = @version` : '');
  const span = (n: number) =>
    `SELECT group_id, user_hash, license FROM reports
      WHERE received_at >= @since${n} AND received_at < @until${n} ${ofVersion('app_version')}`;
  return `WITH edge AS (${span(1)} UNION ALL ${span(2)}),
    wanted AS (SELECT value FROM json_each(@ids)),
    subjects AS (
      SELECT DISTINCT group_id, ${USER} AS kind, user_hash AS subject FROM edge
       WHERE user_hash IS NOT NULL AND group_id IN wanted
      UNION ALL
      SELECT DISTINCT group_id, ${LICENCE}, license FROM edge WHERE group_id IN wanted)
    SELECT group_id, kind, COUNT(*) FROM subjects e
     WHERE NOT EXISTS (SELECT 1 FROM group_subjects s
       WHERE s.kind = e.kind AND s.subject = e.subject AND s.group_id = e.group_id
         AND s.day >= @from AND s.day < @end ${ofVersion('s.version')})
     GROUP BY group_id, kind`;
}
const EDGE_SUBJECTS = edgeSubjects(false);
const EDGE_SUBJECTS_OF_VERSION = edgeSubjects(true);
