import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Report } from '@jcs/protocol';
import type { Collector } from '@jcs/collector';
import { IngestWriter, prepareReport } from '../src/store/ingest-writer';
import { dayName } from '../src/time';
import type { Db } from '../src/store/db';
import { ReportKeys } from '../src/store/report-keys';

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

/**
 * Stores reports as if received at `receivedAt`, through the same sealing and write path as
 * ingest but without HTTP: for data sets too big to post one by one.
 */
export function storeAt(c: Collector, reports: Report[], receivedAt: number): void {
  const writer = new IngestWriter(c.db);
  writer.write(reports.map((r) => prepareReport(r, c.keyring, receivedAt)));
}

/**
 * Inserts `count` report rows (and their look-up rows) with random sealed-looking blobs straight into the tables, spread
 * over `days` days from `from`, and makes the day keys: a large data set in about a second.
 */
export function bulkInsert(c: Collector, count: number, from: number, days: number): void {
  const insert = c.db.prepare(
    `INSERT INTO reports (id, group_id, received_at, key_day, occurred_at, app_version, license, line,
       repeats, dump_withheld, user_hash, username, description, code, dump)
     VALUES (?, 'g000000000000', ?, ?, '2026-01-01T00:00:00Z', '5.2.1', 'JCS-000001', 1, NULL, NULL, ?, ?, ?, NULL, NULL)`,
  );
  const keys = new ReportKeys(c.db);
  const step = (days * DAY) / count;
  for (let d = 0; d < days; d++) c.keyring.dayKey(dayName(from + d * DAY), true);
  c.db.transaction(() => {
    for (let i = 0; i < count; i++) {
      const at = Math.floor(from + i * step);
      const id = crypto.randomUUID();
      const userHash = crypto.randomBytes(16);
      const { lastInsertRowid } = insert.run(
        id,
        at,
        dayName(at),
        userHash,
        crypto.randomBytes(48),
        crypto.randomBytes(120),
      );
      keys.add(Number(lastInsertRowid), {
        id,
        groupId: 'g000000000000',
        keyDay: dayName(at),
        receivedAt: at,
      });
    }
  })();
}

export function countReports(db: Db): number {
  return (db.prepare('SELECT COUNT(*) AS n FROM reports').get() as { n: number }).n;
}

/** The bytes of the database and its WAL (and shared-memory index), concatenated. */
export function databaseBytes(dbFile: string): Buffer {
  return Buffer.concat(
    ['', '-wal', '-shm']
      .map((s) => dbFile + s)
      .filter((f) => fs.existsSync(f))
      .map((f) => fs.readFileSync(f)),
  );
}
