import fs from 'node:fs';
import type { Db } from './db';
import type { Keyring } from '../crypto/keyring';
import { keyTag, openBytes } from '../crypto/fields';
import { ReportKeys } from './report-keys';
import { MAX_UNSYNCED_RECORDS, dayFile, sealedDir, syncedEnd } from './sealed-files';
import { SealedReader } from './sealed-reader';
import type { SealedFields } from './sealed-record';
import { DAY_MS, dayOf, hourOf } from '../time';
import { keepSubjectDaysOnRemoval, LICENCE, USER } from './subject-days';

/**
 * How many of the newest reports the check reads: twice what ingest's batcher lets wait for its
 * sync, more than the most a power cut can take with an inbox fold's added (below).
 */
const CHECKED_REPORTS = 2 * MAX_UNSYNCED_RECORDS;

/**
 * The most records a power cut can take: the ingest batcher's MAX_UNSYNCED_RECORDS, and an inbox
 * fold's own half of that (store/inbox-writer.ts), should both be waiting for their syncs. More
 * missing than this is not a power cut's doing.
 */
export const MOST_LOST_TO_A_POWER_CUT = MAX_UNSYNCED_RECORDS + MAX_UNSYNCED_RECORDS / 2;

interface Row {
  seq: number;
  id: string;
  group_id: string;
  received_at: number;
  key_day: string;
  app_version: string;
  license: string;
  line: number;
  repeats: number | null;
  user_hash: Buffer | null;
  sealed_at: number;
  sealed_len: number;
}

/**
 * Finds the newest reports whose sealed record did not reach the disk, and takes them out of the
 * database as if they had never arrived. Returns how many.
 *
 * Why there can be any: ingest syncs a batch's records and its commit at the same time
 * (store/sealed-files.ts), and answers only once both are on disk. A power cut between the two
 * can leave the commit on disk without the records: reports nobody was told were stored, whose
 * senders send them again. Left in place, each retry would be answered 200 "stored before" for
 * a report whose fields are lost. Taken out, the retry stores it anew.
 *
 * A record counts as reached the disk when it is its report's (store/sealed-record.ts) and every
 * field opens under its day's key (which also catches a record only partly written). Reports whose
 * key is gone are expiry's business, not this check's; so are those whose record names another key
 * of the same day (its tag): the day's key file was lost and made anew, or put back from elsewhere.
 * Those were acknowledged: they stay, counted, their fields unreadable. The ingest batcher never
 * lets more than MAX_UNSYNCED_RECORDS reports wait for their sync, so reading the newest
 * CHECKED_REPORTS is enough. Taking a report out undoes what ingest added for it: its look-up rows,
 * its counts, and its subject rows where no other report of that group, day and version has the
 * same subject. A group left with no report and no count goes too.
 *
 * What a power cut cannot do is taken for a restore and left alone, reported as `unreadable`: a
 * day file that is not there at all (a new day file's name is synced before any record goes in
 * it, and the folder's before its first file), a record missing below the file's synced end
 * (`sealedSyncedKey`: it was on disk, and the file was removed or replaced since), or more
 * missing records than can ever wait for their sync (MOST_LOST_TO_A_POWER_CUT). That is a `collector.db` put back without `sealed/`, or
 * with an older copy of it: every report there was acknowledged, so it stays, counted, and reads
 * as gone (404) until the day files are put back.
 *
 * Runs before anything writes (serve, at start); cheap when there is nothing to repair: a read
 * of some ten megabytes.
 *
 * @example
 * const { removed, otherKeyDays } = removeUnsyncedReports(db, keyring);
 * if (removed > 0) log.warn({ removed }, 'reports whose fields did not reach the disk removed');
 */
export function removeUnsyncedReports(
  db: Db,
  keyring: Keyring,
): { removed: number; otherKeyDays: string[]; unreadable: number } {
  const rows = db
    .prepare<[number], Row>(
      `SELECT seq, id, group_id, received_at, key_day, app_version, license, line, repeats,
         user_hash, sealed_at, sealed_len FROM reports ORDER BY seq DESC LIMIT ?`,
    )
    .all(CHECKED_REPORTS);
  if (rows.length === 0) return { removed: 0, otherKeyDays: [], unreadable: 0 };
  const dir = sealedDir(db.name);
  const reader = new SealedReader(dir);
  let broken: Row[] = [];
  let unreadable = 0;
  const otherKeyDays = new Set<string>();
  // A day or two among the rows: each key and file looked up once (dayKey checks its file every
  // time).
  const keyOf = oncePerDay((day) => keyring.dayKey(day));
  const fileThere = oncePerDay((day) => fs.existsSync(dayFile(dir, day)));
  const syncedTo = oncePerDay((day) => syncedEnd(db, day));
  try {
    for (const row of rows) {
      const key = keyOf(row.key_day);
      if (!key) continue;
      const fields = reader.read(row.key_day, row.sealed_at, row.sealed_len, row.id);
      if (fields && fields.keyTag !== 0 && fields.keyTag !== keyTag(key)) {
        otherKeyDays.add(row.key_day);
      } else if (!fields || !opens(fields, key)) {
        // Known to be on disk once, or in no file at all: not a power cut's doing.
        const synced = row.sealed_at + row.sealed_len <= syncedTo(row.key_day);
        if (fileThere(row.key_day) && !synced) broken.push(row);
        else unreadable++;
      }
    }
  } finally {
    reader.close();
  }
  if (broken.length > MOST_LOST_TO_A_POWER_CUT) {
    unreadable += broken.length;
    broken = [];
  }
  if (broken.length > 0) db.transaction(() => broken.forEach(takeOut(db))).immediate();
  return { removed: broken.length, otherKeyDays: [...otherKeyDays].sort(), unreadable };
}

/** `f`, asked once per day: the answers are kept for the rest of the check. */
function oncePerDay<T>(f: (day: string) => T): (day: string) => T {
  const answers = new Map<string, T>();
  return (day) => {
    if (!answers.has(day)) answers.set(day, f(day));
    return answers.get(day)!;
  };
}

function opens(f: SealedFields, key: Uint8Array): boolean {
  for (const field of [f.username, f.description, f.code, f.dump]) {
    if (field !== null && openBytes(field, key) === null) return false;
  }
  return true;
}

/** Undoes one report's insert (store/ingest-writer.ts): the row, its look-ups, its counts. */
function takeOut(db: Db): (row: Row) => void {
  keepSubjectDaysOnRemoval(db);
  const keys = new ReportKeys(db);
  const deleteReport = db.prepare<[number]>('DELETE FROM reports WHERE seq = ?');
  // Takes n off one count row, and the row with it once nothing is left.
  const count = (table: string, unit: string, key: string) => {
    const sub = db.prepare<[number, string, number, string | number]>(
      `UPDATE ${table} SET count = count - ? WHERE group_id = ? AND ${unit} = ? AND ${key} = ?`,
    );
    const drop = db.prepare<[string, number, string | number]>(
      `DELETE FROM ${table} WHERE group_id = ? AND ${unit} = ? AND ${key} = ? AND count <= 0`,
    );
    return (n: number, group: string, at: number, k: string | number) => {
      sub.run(n, group, at, k);
      drop.run(group, at, k);
    };
  };
  const takeHour = count('group_hours', 'hour', 'version');
  const takeDay = count('group_days', 'day', 'version');
  const takeLine = count('group_lines', 'hour', 'line');
  // Another report of the group, day and version with the same subject keeps its subject row.
  const sameSubject = (column: string) =>
    db
      .prepare<[string, number, number, string, Buffer | string]>(
        `SELECT 1 FROM report_groups g JOIN reports r ON r.seq = g.seq
         WHERE g.group_id = ? AND g.received_at >= ? AND g.received_at < ?
           AND r.app_version = ? AND r.${column} = ? LIMIT 1`,
      )
      .pluck();
  const sameUser = sameSubject('user_hash');
  const sameLicence = sameSubject('license');
  const deleteSubject = db.prepare<[number, Buffer | string, string, number, string]>(
    'DELETE FROM group_subjects WHERE kind = ? AND subject = ? AND group_id = ? AND day = ? AND version = ?',
  );
  const deleteEmptyGroup = db.prepare<{ group: string }>(
    `DELETE FROM groups WHERE id = @group
       AND NOT EXISTS (SELECT 1 FROM report_groups WHERE group_id = @group)
       AND NOT EXISTS (SELECT 1 FROM group_days WHERE group_id = @group)`,
  );
  return (r) => {
    // Read before this transaction: an expiry in another process may have deleted it since, and
    // its counts with it.
    if (deleteReport.run(r.seq).changes === 0) return;
    keys.remove({
      seq: r.seq,
      id: r.id,
      groupId: r.group_id,
      keyDay: r.key_day,
      receivedAt: r.received_at,
    });
    const n = 1 + (r.repeats ?? 0);
    const hour = hourOf(r.received_at);
    const day = dayOf(r.received_at);
    takeHour(n, r.group_id, hour, r.app_version);
    takeDay(n, r.group_id, day, r.app_version);
    takeLine(n, r.group_id, hour, r.line);
    const from = day * DAY_MS;
    const subjects: [number, Buffer | string | null, typeof sameUser][] = [
      [USER, r.user_hash, sameUser],
      [LICENCE, r.license, sameLicence],
    ];
    for (const [kind, subject, same] of subjects) {
      if (subject === null) continue;
      if (same.get(r.group_id, from, from + DAY_MS, r.app_version, subject) !== undefined) continue;
      deleteSubject.run(kind, subject, r.group_id, day, r.app_version);
    }
    deleteEmptyGroup.run({ group: r.group_id });
  };
}
