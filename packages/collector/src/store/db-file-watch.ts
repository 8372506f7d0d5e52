import fs from 'node:fs';

/** The `code` of the error DbFileWatch throws: the storage failing (ingest/unavailable.ts). */
export const DB_FILE_GONE_CODE = 'JCS_DB_GONE';

/**
 * Tells whether the database file at its path is still the one a connection opened. SQLite goes
 * on writing to an open file that was removed or replaced: a `collector.db` deleted under a
 * running `serve` took every report answered 202 since into a file no one can open again, and
 * the next start found no database. Checked before each ingest batch and access-log entry, once
 * a turn of the event loop (a `stat`, some microseconds; a batch of entries shares one), so that
 * such writes are refused 503 instead, and their senders keep them.
 *
 * @example
 * const watch = new DbFileWatch(db.name);
 * watch.check(); // throws, code JCS_DB_GONE, once the file is gone or another
 */
export class DbFileWatch {
  private readonly opened: string | null;
  private checkedThisTurn = false;

  constructor(private readonly file: string) {
    this.opened = identity(file);
  }

  check(): void {
    // Not a file (an in-memory database), or gone before it was opened: nothing to compare.
    if (this.opened === null || this.checkedThisTurn) return;
    if (identity(this.file) === this.opened) {
      this.checkedThisTurn = true;
      setImmediate(() => (this.checkedThisTurn = false)).unref();
      return;
    }
    throw Object.assign(
      new Error(
        `the database file ${this.file} was removed or replaced while the collector runs: stop serve, put the right collector.db back (from a backup), and start it again`,
      ),
      { code: DB_FILE_GONE_CODE },
    );
  }
}

function identity(file: string): string | null {
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  return stat ? `${stat.dev}:${stat.ino}` : null;
}
