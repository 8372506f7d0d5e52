import type { Keyring } from '../crypto/keyring';
import { statement, type Db } from './db';
import { storedDays } from './stored-days';

/**
 * The days that hold reports but whose key file is gone from the keys folder: a restore of the
 * database without `keys/days/` (the keys folder is never backed up), or a file deleted by hand.
 * Those reports stay counted but read as gone, and nothing else would say why until a report
 * arrived that day. The nightly expiry destroys a day's key only once none of its reports is
 * left; `jcs-collector expire --now` ahead of time may shred a day that still takes reports
 * (retention.md warns of it), so the warning names that cause too.
 *
 * A seek per day of the stored range (some 42), each stopping at the day's first surviving report.
 *
 * @example
 * keylessDays(db, keyring); // ['2026-11-02'] once keys/days/2026-11-02.key was deleted
 */
export function keylessDays(db: Db, keyring: Keyring): string[] {
  const held = new Set(keyring.listDayKeys());
  const hasReport = statement(
    db,
    `SELECT 1 FROM report_ids i JOIN reports r ON r.seq = i.seq WHERE i.key_day = ? LIMIT 1`,
  ).pluck();
  return storedDays(db).filter((day) => !held.has(day) && hasReport.get(day) !== undefined);
}
