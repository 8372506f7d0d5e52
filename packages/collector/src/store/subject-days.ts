import { setMeta, statement, type Db } from './db';
import { DAY_MS } from '../time';

/**
 * Exact distinct users and licences per group over any span of UTC days, at a cost bounded by
 * days, not reports.
 *
 * group_subjects holds one row per (subject, group, day, version): a subject's days. Counting
 * distinct subjects from it reads a row per subject and day. Instead, triggers on it keep
 * group_subject_days: per group, version ('' for any version) and kind, how many subjects were
 * seen on `day` whose previous day there was `prev` (0: none). The subjects seen in days [a, b)
 * are exactly those whose first day in the span is in it: the sum over day in [a, b) and
 * prev < a, at most a row per pair of days.
 *
 * Expiry does not go through the triggers (a million reports' subject rows would cost a trigger
 * run each): it raises the horizon (meta `subjects_from`), the first day that counts, and then
 * deletes the rows and counts of the days before it in plain chunks. The triggers ignore rows
 * before the horizon, and a `prev` before it means "none" just as 0 does: a row of the counts
 * whose previous day has expired is left as it is instead of being merged into the row with 0,
 * and when one of its subjects must be taken off (erasure), any row of that day with a `prev`
 * before the horizon will do. Reads start at the horizon.
 */

/** group_subjects.kind */
export const USER = 0;
export const LICENCE = 1;

/** meta key: the first UTC day whose subject rows count (0 or absent: all). */
export const SUBJECTS_FROM_KEY = 'subjects_from';

/** The horizon, as SQL. */
const FROM = `IFNULL((SELECT CAST(value AS INTEGER) FROM meta WHERE key = '${SUBJECTS_FROM_KEY}'), 0)`;

export interface Subjects {
  users: number;
  licences: number;
}

/**
 * Distinct users and licences of each group in the UTC days [first, first + length), within one
 * version or across all.
 *
 * @example
 * countSubjects(db, ['3fa9c1d2e4b7'], { first: 20410, length: 8 }); // Map { '3fa9c1d2e4b7' => { users: 12, licences: 9 } }
 */
export function countSubjects(
  db: Db,
  ids: string[],
  days: { first: number; length: number },
  version?: string,
): Map<string, Subjects> {
  const query = statement(
    db,
    `SELECT kind, SUM(subjects) FROM group_subject_days
     WHERE group_id = ? AND version = ? AND kind IN (${USER}, ${LICENCE})
       AND day >= ? AND day < ? AND prev < ?
     GROUP BY kind`,
  ).raw();
  const from = Math.max(days.first, subjectsFrom(db));
  const to = days.first + days.length;
  const out = new Map<string, Subjects>();
  for (const id of ids) {
    const s = { users: 0, licences: 0 };
    for (const [kind, n] of query.all(id, version ?? '', from, to, from) as [number, number][]) {
      if (kind === USER) s.users = n;
      else s.licences = n;
    }
    out.set(id, s);
  }
  return out;
}

/** The first UTC day whose subject rows count: days before it have expired. */
export function subjectsFrom(db: Db): number {
  return statement(db, `SELECT ${FROM}`).pluck().get() as number;
}

/**
 * Recomputes group_subject_days from group_subjects in one pass: the counts its triggers keep
 * row by row, for a bulk load that drops the triggers while it inserts (bench/lib/fill.js).
 *
 * @example
 * db.transaction(() => rebuildSubjectDays(db))();
 */
export function rebuildSubjectDays(db: Db): void {
  db.exec(`DELETE FROM group_subject_days; ${countSubjectDays(FROM)}`);
}

/** SQL that counts group_subjects' rows from day `from` (SQL) on into group_subject_days. */
function countSubjectDays(from: string): string {
  return `
    INSERT INTO group_subject_days (group_id, version, kind, day, prev, subjects)
      SELECT group_id, version, kind, day, prev, COUNT(*) FROM (
        SELECT group_id, version, kind, day,
          IFNULL(LAG(day) OVER (PARTITION BY kind, subject, group_id, version ORDER BY day), 0) AS prev
        FROM group_subjects WHERE day >= ${from}
        UNION ALL
        SELECT group_id, '', kind, day,
          IFNULL(LAG(day) OVER (PARTITION BY kind, subject, group_id ORDER BY day), 0)
        FROM (SELECT DISTINCT kind, subject, group_id, day FROM group_subjects WHERE day >= ${from})
      )
      GROUP BY group_id, version, kind, day, prev;`;
}

/**
 * Makes `day` the horizon again after a run judged from the future raised it past `day` while
 * reports received from `day` on are still stored (some came in during the run, or its cut-off
 * fell within the day): their subject rows, which the run deleted with the day's, are written
 * again from the reports themselves, and their counts rebuilt, so that they and every report
 * after them count in users and licences at once, not from the day after the run's cut-off on.
 * Call inside a write transaction. The rows are written while the horizon is out of reach, so
 * the triggers count none of them, and counted in one pass (as rebuildSubjectDays does).
 *
 * @example
 * db.transaction(() => recountSubjectsFrom(db, dayOf(Date.now()))).immediate();
 */
export function recountSubjectsFrom(db: Db, day: number): void {
  setMeta(db, SUBJECTS_FROM_KEY, String(Number.MAX_SAFE_INTEGER));
  const from = day * DAY_MS;
  const subjects = (kind: number, column: string) =>
    db
      .prepare(
        `INSERT OR IGNORE INTO group_subjects (group_id, day, version, kind, subject)
         SELECT group_id, received_at / ${DAY_MS}, app_version, ${kind}, ${column} FROM reports
         WHERE received_at >= ? AND ${column} IS NOT NULL`,
      )
      .run(from);
  // A walk of the whole table (it has no index by day), but the run has just deleted every row up
  // to its cut-off's day: what is left from `day` on is what came in since.
  db.prepare('DELETE FROM group_subjects WHERE day >= ?').run(day);
  db.prepare('DELETE FROM group_subject_days WHERE day >= ?').run(day);
  subjects(USER, 'user_hash');
  subjects(LICENCE, 'license');
  db.prepare(
    `INSERT OR IGNORE INTO subject_row_days (day)
     SELECT DISTINCT received_at / ${DAY_MS} FROM reports WHERE received_at >= ?`,
  ).run(from);
  db.prepare(countSubjectDays('@day')).run({ day });
  setMeta(db, SUBJECTS_FROM_KEY, String(day));
}

/**
 * The expiry job's step for subject rows: every day up to `lastDay` goes. Each chunk (one
 * transaction) makes sure the horizon is past it (from then on those days count for nothing),
 * then deletes up to `limit` rows: first the counts of those days, then the subject rows
 * themselves (without trigger work: they are before the horizon).
 *
 * group_subjects has no index by day (ingest would pay an insert at a random place in it for
 * every new row), so the step walks the table in key order from where its last chunk stopped,
 * deleting the expired rows of each range it passes. subject_row_days says whether any day up to
 * `lastDay` has rows at all, so a run with nothing to delete reads nothing; the walk's last chunk
 * takes those days off it.
 *
 * @example
 * const step = expireSubjects(db, dayOf(cutoff));
 * while (db.transaction(() => step(500))() === 500);
 */
export function expireSubjects(db: Db, lastDay: number): (limit: number) => number {
  const counts = db.prepare<[number, number]>(
    `DELETE FROM group_subject_days WHERE (group_id, version, kind, day, prev) IN
       (SELECT group_id, version, kind, day, prev FROM group_subject_days WHERE day <= ? LIMIT ?)`,
  );
  const due = db
    .prepare<[number], number>('SELECT 1 FROM subject_row_days WHERE day <= ? LIMIT 1')
    .pluck();
  const key = 'kind, subject, group_id, day, version';
  // The key of the limit-th expired row after the cursor: the end of this chunk's range.
  const rangeEnd = db
    .prepare<unknown[], SubjectKey>(
      `SELECT ${key} FROM group_subjects WHERE (${key}) > (?, ?, ?, ?, ?) AND day <= ?
       ORDER BY ${key} LIMIT 1 OFFSET ?`,
    )
    .raw();
  const deleteRange = db.prepare(
    `DELETE FROM group_subjects
     WHERE (${key}) > (?, ?, ?, ?, ?) AND (${key}) <= (?, ?, ?, ?, ?) AND day <= ?`,
  );
  const deleteRest = db.prepare(
    `DELETE FROM group_subjects WHERE (${key}) > (?, ?, ?, ?, ?) AND day <= ?`,
  );
  const doneDays = db.prepare<[number]>('DELETE FROM subject_row_days WHERE day <= ?');
  const raise = db.prepare<[string, string, number]>(
    `INSERT INTO meta (key, value) VALUES (?, ?)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE CAST(value AS INTEGER) < ?`,
  );
  // Before every key: kind is 0 or 1.
  let cursor: SubjectKey = [-1, '', '', 0, ''];
  return (limit) => {
    // In every chunk's own transaction (a no-op once done): no chunk deletes before it holds.
    raise.run(SUBJECTS_FROM_KEY, String(lastDay + 1), lastDay + 1);
    const n = counts.run(lastDay, limit).changes;
    if (n === limit || due.get(lastDay) === undefined) return n;
    const rows = limit - n;
    const end = rangeEnd.get(...cursor, lastDay, rows - 1) as SubjectKey | undefined;
    if (end) {
      deleteRange.run(...cursor, ...end, lastDay);
      cursor = end;
      return limit;
    }
    // Fewer than `rows` left: the walk is done, and the caller's loop ends at this short chunk.
    const rest = deleteRest.run(...cursor, lastDay).changes;
    doneDays.run(lastDay);
    return n + rest;
  };
}

/** A group_subjects key: kind, subject, group_id, day, version. */
type SubjectKey = [number, Buffer | string, string, number, string];

/**
 * The triggers that keep group_subject_days equal to what group_subjects holds from the horizon
 * on, whoever inserts or deletes (ingest, erasure). A day stored before days the subject already
 * has (a clock set back, a restored backlog) or removed while later ones remain (erasure) changes
 * the next day's `prev`; those cases run in triggers of their own, guarded by a look-up, so the
 * common one (a new newest day) costs a few seeks. Each change runs for the version's own counts
 * and, when the subject's day in the group is new or gone in every version, for the '' counts.
 *
 * `which`: all four, as the first schema made them, or the two that follow a deletion, which
 * keepSubjectDaysOnRemoval makes per connection (`create` then makes them TEMP).
 */
export function subjectDayTriggers(
  which: 'all' | 'removal' = 'all',
  create = 'CREATE TRIGGER',
): string {
  const subject = (x: string) =>
    `kind = ${x}.kind AND subject = ${x}.subject AND group_id = ${x}.group_id`;
  /** The subject's nearest other counted day in the group (and version), before or after x's. */
  const near = (x: string, sameVersion: boolean, dir: 'prev' | 'next') => {
    const version = sameVersion ? ` AND version = ${x}.version` : '';
    const day =
      dir === 'prev'
        ? `day < ${x}.day AND day >= ${FROM} ORDER BY day DESC`
        : `day > ${x}.day ORDER BY day`;
    const sql = `(SELECT day FROM group_subjects WHERE ${subject(x)}${version} AND ${day} LIMIT 1)`;
    return dir === 'prev' ? `IFNULL(${sql}, 0)` : sql;
  };
  /** The two scopes: the version's own counts, and '' (any version) when `guard` holds. */
  const scopes = (x: string, guard: string) => [
    { version: `${x}.version`, same: true, guard: '1' },
    { version: "''", same: false, guard },
  ];
  const cell = (x: string, version: string, day: string, prev: string) =>
    `group_id = ${x}.group_id AND version = ${version} AND kind = ${x}.kind AND day = ${day} AND prev = ${prev}`;
  /**
   * The row of the counts that holds a subject seen on `day` after `prev`: that one, or, for
   * "none" (0), any row of the day whose `prev` is 0 or before the horizon (they mean the same).
   */
  const holder = (x: string, version: string, day: string, prev: string) =>
    `CASE WHEN ${prev} > 0 THEN ${prev} ELSE (SELECT prev FROM group_subject_days
       WHERE group_id = ${x}.group_id AND version = ${version} AND kind = ${x}.kind AND day = ${day}
         AND prev < MAX(${FROM}, 1) ORDER BY prev LIMIT 1) END`;
  const add = (x: string, version: string, day: string, prev: string, guard: string) =>
    `INSERT INTO group_subject_days (group_id, version, kind, day, prev, subjects)
       SELECT ${x}.group_id, ${version}, ${x}.kind, ${day}, ${prev}, 1 WHERE ${guard}
       ON CONFLICT DO UPDATE SET subjects = subjects + 1;`;
  const sub = (x: string, version: string, day: string, prev: string, guard: string) => {
    const at = cell(x, version, day, prev);
    return `UPDATE group_subject_days SET subjects = subjects - 1 WHERE ${at} AND ${guard};
     DELETE FROM group_subject_days WHERE ${at} AND subjects = 0;`;
  };
  const later = (x: string) =>
    `EXISTS (SELECT 1 FROM group_subjects WHERE ${subject(x)} AND day > ${x}.day)`;

  // NEW's day is new to the '' counts unless another version of it was there already.
  const firstThatDay = `NOT EXISTS (SELECT 1 FROM group_subjects
    WHERE ${subject('NEW')} AND day = NEW.day AND version <> NEW.version)`;
  // OLD's day is gone from the '' counts when no version of it is left.
  const lastThatDay = `NOT EXISTS (SELECT 1 FROM group_subjects
    WHERE ${subject('OLD')} AND day = OLD.day)`;
  const added = scopes('NEW', firstThatDay);
  const removed = scopes('OLD', lastThatDay);
  const lines = (parts: string[]) => parts.join('\n    ');
  const adding = `
  CREATE TRIGGER group_subjects_added AFTER INSERT ON group_subjects
  WHEN NEW.day >= ${FROM} BEGIN
    ${lines(added.map((s) => add('NEW', s.version, 'NEW.day', near('NEW', s.same, 'prev'), s.guard)))}
  END;
  CREATE TRIGGER group_subjects_added_before AFTER INSERT ON group_subjects
  WHEN NEW.day >= ${FROM} AND ${later('NEW')} BEGIN
    ${lines(
      added.map((s) => {
        const next = near('NEW', s.same, 'next');
        const prev = near('NEW', s.same, 'prev');
        return lines([
          sub('NEW', s.version, next, holder('NEW', s.version, next, prev), s.guard),
          add('NEW', s.version, next, 'NEW.day', `${s.guard} AND ${next} IS NOT NULL`),
        ]);
      }),
    )}
  END;`;
  const removing = `
  ${create} group_subjects_removed AFTER DELETE ON group_subjects
  WHEN OLD.day >= ${FROM} BEGIN
    ${lines(
      removed.map((s) =>
        sub(
          'OLD',
          s.version,
          'OLD.day',
          holder('OLD', s.version, 'OLD.day', near('OLD', s.same, 'prev')),
          s.guard,
        ),
      ),
    )}
  END;
  ${create} group_subjects_removed_before AFTER DELETE ON group_subjects
  WHEN OLD.day >= ${FROM} AND ${later('OLD')} BEGIN
    ${lines(
      removed.map((s) => {
        const next = near('OLD', s.same, 'next');
        return lines([
          sub('OLD', s.version, next, 'OLD.day', s.guard),
          add(
            'OLD',
            s.version,
            next,
            near('OLD', s.same, 'prev'),
            `${s.guard} AND ${next} IS NOT NULL`,
          ),
        ]);
      }),
    )}
  END;`;
  return which === 'all' ? adding + removing : removing;
}

/**
 * Makes deletions from group_subjects on this connection keep group_subject_days right: the
 * removal triggers, as TEMP triggers of this connection alone. Every code that deletes subject
 * rows at or after the horizon (erasure, the start-up repair) calls this first.
 *
 * Why not in the schema: the expiry job deletes a day's subject rows only once they are before
 * the horizon, where the triggers do nothing, yet each row still ran both of them, their
 * guards' look-ups included: a third of a large expiry's time (docs/performance.md). The
 * expiry's connection has none; a migration took them out of the schema.
 *
 * @example
 * keepSubjectDaysOnRemoval(db);
 * db.prepare('DELETE FROM group_subjects WHERE kind = ? AND subject = ?').run(USER, hash);
 */
export function keepSubjectDaysOnRemoval(db: Db): void {
  db.exec(subjectDayTriggers('removal', 'CREATE TEMP TRIGGER IF NOT EXISTS'));
}
