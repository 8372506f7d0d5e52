import fs from 'node:fs';
import type { Db } from './db';

/**
 * True when the last process to use the database did not close it: a clean close checkpoints
 * the write-ahead log and removes it, so a non-empty `-wal` file at start means a crash, a kill
 * or a power cut. Call before opening (opening does not remove it).
 */
export function uncleanStop(dbFile: string): boolean {
  try {
    return fs.statSync(`${dbFile}-wal`).size > 0;
  } catch {
    return false;
  }
}

/**
 * After an unclean stop SQLite rolls back to the last commit by itself; what it cannot see is a
 * damaged log (cut short, a bad copy), which can leave an index disagreeing with its table. So:
 * a quick check, and where it finds damage, the indexes rebuilt from the tables (REINDEX) and
 * checked again. Returns one line saying what was found and done.
 *
 * @example
 * if (unclean) log.warn(recoverAfterUncleanStop(db));
 */
export function recoverAfterUncleanStop(db: Db): { ok: boolean; message: string } {
  const first = quickCheck(db);
  if (first === 'ok') {
    return {
      ok: true,
      message:
        'a write-ahead log was left by an earlier run (a crash, a kill, or another process still using the database); SQLite recovered to the last commit and the quick check found the database intact',
    };
  }
  db.exec('REINDEX');
  const second = quickCheck(db);
  if (second === 'ok') {
    return {
      ok: true,
      message: `a write-ahead log was left by an earlier run and the quick check found damage (${first}); the indexes were rebuilt from the tables and the database now checks intact`,
    };
  }
  return {
    ok: false,
    message: `the database is damaged (${second}) and rebuilding the indexes did not mend it: stop the collector and restore the database from a backup`,
  };
}

function quickCheck(db: Db): string {
  const rows = db.pragma('quick_check(3)') as { quick_check: string }[];
  return rows.map((r) => r.quick_check).join('; ');
}
