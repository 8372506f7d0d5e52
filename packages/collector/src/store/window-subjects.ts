import { statement, type Db } from './db';
import { windowDays, type Window } from './occurrences';
import { countSubjects, LICENCE, subjectsFrom, USER, type Subjects } from './subject-days';
import { DAY_MS } from '../time';

/**
 * Past this many reports received in a window's partial edge days (all groups together), distinct
 * users and licences count those days whole instead of reading their reports: at a million stored
 * reports the default 7-day window's edges hold some 24,000, and reading them would take longer
 * than the rest of the triage query.
 */
const EXACT_EDGE_REPORTS = 5_000;

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

  // The partial days' subjects, per group, once each; then those no whole day has.
  const wanted = new Set(ids);
  const edgeSubjects = new Map<string, Map<string, [number, Buffer | string]>>();
  const rows = statement(
    db,
    `SELECT group_id, user_hash, license FROM reports WHERE received_at >= ? AND received_at < ?
     ${version === undefined ? '' : 'AND app_version = ?'}`,
  ).raw();
  for (const [from, to] of partial) {
    const args = version === undefined ? [from, to] : [from, to, version];
    for (const [group, userHash, licence] of rows.all(...args) as [
      string,
      Buffer | null,
      string,
    ][]) {
      if (!wanted.has(group)) continue;
      let subjects = edgeSubjects.get(group);
      if (!subjects) edgeSubjects.set(group, (subjects = new Map()));
      if (userHash) subjects.set(`u${userHash.toString('hex')}`, [USER, userHash]);
      subjects.set(`l${licence}`, [LICENCE, licence]);
    }
  }
  const seenOnWholeDay = statement(
    db,
    `SELECT 1 FROM group_subjects WHERE kind = ? AND subject = ? AND group_id = ?
       AND day >= ? AND day < ? ${version === undefined ? '' : 'AND version = ?'} LIMIT 1`,
  ).pluck();
  for (const [group, subjects] of edgeSubjects) {
    const counts = out.get(group)!;
    for (const [kind, subject] of subjects.values()) {
      const args = [kind, subject, group, a, end, ...(version === undefined ? [] : [version])];
      if (end > a && seenOnWholeDay.get(...args) !== undefined) continue;
      if (kind === USER) counts.users++;
      else counts.licences++;
    }
  }
  return out;
}
