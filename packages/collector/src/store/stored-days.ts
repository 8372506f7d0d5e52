import type Database from 'better-sqlite3';
import { statement, type Db } from './db';
import { DAY_MS, dayName } from '../time';

/**
 * Id look-up rows (report_ids) lead with the day of receipt (`key_day`), so the expiry job deletes
 * them a day's range at a time (store/report-keys.ts). A look-up by id then names the days that
 * can hold it: every day from the oldest id row to the newest. Taken from report_ids itself, not
 * from the reports: an erased report's id row stays until its day expires (so a retry of it is
 * not stored again), and a day whose reports were all erased has only those.
 *
 * @example
 * storedDays(db, Date.now()); // ['2026-10-18', ..., '2026-11-28']
 */
export function storedDays(db: Db, alsoAt?: number): string[] {
  // Two statements: SQLite reads MIN() or MAX() alone from one end of the key, both in one query
  // by a scan of every row.
  const first = statement(db, 'SELECT MIN(key_day) FROM report_ids').pluck().get() as string | null;
  const last = statement(db, 'SELECT MAX(key_day) FROM report_ids').pluck().get() as string | null;
  let lo = first === null ? alsoAt : Date.parse(`${first}T00:00:00Z`);
  let hi = last === null ? alsoAt : Date.parse(`${last}T00:00:00Z`);
  if (alsoAt !== undefined) {
    lo = Math.min(lo!, alsoAt);
    hi = Math.max(hi!, alsoAt);
  }
  if (lo === undefined || hi === undefined) return [];
  const days: string[] = [];
  for (let d = Math.floor(lo / DAY_MS); d <= Math.floor(hi / DAY_MS); d++)
    days.push(dayName(d * DAY_MS));
  return days;
}

/**
 * A query over a list of days: `sql` holds `(:days)` where the list goes. Statements are prepared
 * once per list length, so a look-up binds plain parameters instead of parsing a JSON list.
 *
 * @example
 * const byId = new DayQuery(db, 'SELECT seq FROM report_ids WHERE key_day IN (:days) AND id = ?');
 * byId.get(storedDays(db), id);
 */
export class DayQuery<Row> {
  private readonly byLength = new Map<number, Database.Statement>();

  constructor(
    private readonly db: Db,
    private readonly sql: string,
  ) {}

  get(days: string[], ...params: unknown[]): Row | undefined {
    if (days.length === 0) return undefined;
    return this.statement(days.length).get(...days, ...params) as Row | undefined;
  }

  all(days: string[], ...params: unknown[]): Row[] {
    if (days.length === 0) return [];
    return this.statement(days.length).all(...days, ...params) as Row[];
  }

  run(days: string[], ...params: unknown[]): number {
    if (days.length === 0) return 0;
    return this.statement(days.length).run(...days, ...params).changes;
  }

  private statement(n: number): Database.Statement {
    let s = this.byLength.get(n);
    if (!s) {
      s = this.db.prepare(this.sql.replace('(:days)', `(${new Array(n).fill('?').join(', ')})`));
      this.byLength.set(n, s);
    }
    return s;
  }
}
