import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Report } from '@jcs/protocol';
import type { Collector } from '@jcs/collector';
import { IngestWriter, prepareReport } from '../src/store/ingest-writer';
import { dayName } from '../src/time';
import { sealField } from '../src/crypto/fields';
import type { Db } from '../src/store/db';
import { ReportKeys } from '../src/store/report-keys';
import { SealedAppender, sealedDir, listDayFiles, dayFile } from '../src/store/sealed-files';
import { decodeRecord, encodeRecord, type SealedFields } from '../src/store/sealed-record';

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

/**
 * Stores reports as if received at `receivedAt`, through the same sealing and write path as
 * ingest but without HTTP: for data sets too big to post one by one.
 */
export function storeAt(c: Collector, reports: Report[], receivedAt: number): void {
  const writer = new IngestWriter(c.db);
  try {
    writer.write(reports.map((r) => prepareReport(r, c.keyring, receivedAt)));
  } finally {
    writer.close();
  }
}

/**
 * Inserts `count` report rows (and their look-up rows) with random sealed-looking records in the
 * day files, straight into the tables, spread over `days` days from `from`, and makes the day
 * keys: a large data set in about a second.
 */
export function bulkInsert(c: Collector, count: number, from: number, days: number): void {
  const insert = c.db.prepare(
    `INSERT INTO reports (id, group_id, received_at, key_day, occurred_at, app_version, license, line,
       repeats, dump_withheld, user_hash, sealed_at, sealed_len)
     VALUES (?, 'g000000000000', ?, ?, '2026-01-01T00:00:00Z', '5.2.1', 'JCS-000001', 1, NULL, NULL, ?, ?, ?)`,
  );
  const keys = new ReportKeys(c.db);
  const files = new SealedAppender(c.db);
  const step = (days * DAY) / count;
  try {
    c.db.transaction(() => {
      for (let i = 0; i < count; i++) {
        const at = Math.floor(from + i * step);
        const id = crypto.randomUUID();
        // Sealed as ingest seals them: the start-up check of `serve` opens the newest records.
        const key = c.keyring.dayKey(dayName(at), true)!;
        const record = encodeRecord(id, {
          username: sealField(crypto.randomBytes(12).toString('hex'), key),
          description: sealField(crypto.randomBytes(48).toString('hex'), key),
          code: null,
          dump: null,
        });
        const { lastInsertRowid } = insert.run(
          id,
          at,
          dayName(at),
          crypto.randomBytes(16),
          files.add(dayName(at), record),
          record.length,
        );
        keys.add(Number(lastInsertRowid), {
          id,
          groupId: 'g000000000000',
          keyDay: dayName(at),
          receivedAt: at,
        });
      }
      files.flush(true);
    })();
    files.commit();
  } finally {
    files.close();
  }
}

/** The sealed fields of every stored report, by id, read from the day files. */
export function sealedFieldsById(c: Collector): Map<string, SealedFields> {
  const rows = c.db.prepare('SELECT id, key_day, sealed_at, sealed_len FROM reports').all() as {
    id: string;
    key_day: string;
    sealed_at: number;
    sealed_len: number;
  }[];
  const out = new Map<string, SealedFields>();
  for (const r of rows) {
    const file = fs.readFileSync(dayFile(sealedDir(c.db.name), r.key_day));
    const fields = decodeRecord(file.subarray(r.sealed_at, r.sealed_at + r.sealed_len), r.id);
    if (fields) out.set(r.id, fields);
  }
  return out;
}

/** Every byte of the day files (store/sealed-files.ts) there are. */
export function sealedBytes(c: Collector): Buffer {
  const dir = sealedDir(c.db.name);
  return Buffer.concat(listDayFiles(dir).map((d) => fs.readFileSync(dayFile(dir, d))));
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
