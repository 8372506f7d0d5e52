import crypto from 'node:crypto';
import type { Db } from './db';
import type { Keyring } from '../crypto/keyring';
import { DAY_MS, dayOf } from '../time';
import { ReportKeys, type KeyedReport } from './report-keys';
import { keepSubjectDaysOnRemoval, LICENCE, USER, subjectsFrom } from './subject-days';
import { noteWipes, RETURNING_RECORDS, type RecordRow } from './sealed-wipes';

/** Whose reports an erasure destroys (GDPR article 17): exactly one of the two. */
export type DataSubject = { username: string } | { license: string };

/** What an erasure reads of a stored report. */
interface StoredReport {
  seq: number;
  id: string;
  key_day: string;
  group_id: string;
  received_at: number;
  app_version: string;
  license: string;
  user_hash: Buffer | null;
  line: number;
  repeats: number | null;
}

const COLUMNS =
  'r.seq, r.id, r.key_day, r.group_id, r.received_at, r.app_version, r.license, r.user_hash, r.line, r.repeats';
const userOf = (r: StoredReport) => r.user_hash;
const licenceOf = (r: StoredReport) => r.license;

/**
 * Deletes every report of a data subject, named by the username's keyed hash (usernames are only
 * stored sealed) or by licence, and the pseudonyms the distinct counts hold for them: all of the
 * subject's own, and any other one only the erased reports had brought (so a licence erasure
 * also takes its users' hashes along). Occurrence counts hold nothing personal and stay, in
 * every window (erased_occurrences). The ids stay known until their day expires, so the same
 * report sent again is not stored again.
 *
 * The reports are found through the distinct counts' rows (group_subjects): the subject's rows
 * name each group and UTC day it has reports in, and that group's reports of the day are one
 * range of report_groups. So ingest writes no look-up row per username or licence. The same read
 * gives the day's other reports, which decide whose pseudonyms must stay. Expiry deletes a day's
 * subject rows as soon as its cutoff reaches into the day, and the day's later reports only at
 * its next run: those, before the horizon of subject rows, are read by time of receipt.
 *
 * Call inside a transaction; secure_delete zeroes the freed bytes. After the commit, `applyWipes`
 * zeroes the reports' sealed records in their day files, and `wipeWal` removes the copies of
 * deleted rows the write-ahead log still holds.
 *
 * @example
 * const n = db.transaction(() => eraseSubject(db, keyring, { username: 'asmith' }))();
 * applyWipes(db, sealedDir(db.name));
 */
export function eraseSubject(db: Db, keyring: Keyring, subject: DataSubject): number {
  keepSubjectDaysOnRemoval(db);
  const [kind, value] =
    'username' in subject
      ? ([USER, keyring.userHash(subject.username)] as const)
      : ([LICENCE, subject.license] as const);
  // A report holds a licence and (mostly) a username hash: the subject's kind, and the other.
  const [own, otherKind, other] =
    kind === USER ? ([userOf, LICENCE, licenceOf] as const) : ([licenceOf, USER, userOf] as const);
  const theirs = (r: StoredReport) => same(own(r), value);

  const days = db
    .prepare<[number, Buffer | string], { group_id: string; day: number }>(
      'SELECT DISTINCT group_id, day FROM group_subjects WHERE kind = ? AND subject = ?',
    )
    .all(kind, value);
  const ofGroupDay = db.prepare<[string, number, number], StoredReport>(
    `SELECT ${COLUMNS} FROM report_groups k JOIN reports r ON r.seq = k.seq
     WHERE k.group_id = ? AND k.received_at >= ? AND k.received_at < ?`,
  );
  // Before the horizon no subject rows are left to name the days; the receipt index bounds them.
  const beforeHorizon = db.prepare<[number, Buffer | string], StoredReport>(
    `SELECT ${COLUMNS} FROM reports r
     WHERE r.received_at < ? AND r.${kind === USER ? 'user_hash' : 'license'} = ?`,
  );
  const deleteReport = db
    .prepare<[number], RecordRow>(`DELETE FROM reports WHERE seq = ? ${RETURNING_RECORDS}`)
    .raw();
  const records: RecordRow[] = [];
  const keys = new ReportKeys(db);
  const keepCount = occurrenceKeeper(db);
  const drop = db.prepare(
    'DELETE FROM group_subjects WHERE group_id = ? AND day = ? AND version = ? AND kind = ? AND subject = ?',
  );

  /**
   * Erases `gone`, reports of one group and day, and the other pseudonym of each unless one of
   * `kept` (the day's surviving reports there) still carries it in the same version.
   */
  const erase = (groupId: string, day: number, gone: StoredReport[], kept: StoredReport[]) => {
    const seen = new Set<string>();
    for (const r of gone) {
      const record = deleteReport.get(r.seq);
      if (record) records.push(record);
      // The id row stays (until its day expires): the same report sent again, an SDK retry whose
      // first answer was lost, is answered 200 and not stored again after the erasure.
      keys.removeFromGroup(keyed(r));
      keepCount(r);
      const s = other(r);
      if (s === null) continue;
      const id = `${r.app_version}\0${Buffer.from(s).toString('hex')}`;
      if (seen.has(id)) continue;
      seen.add(id);
      const carried = kept.some((k) => k.app_version === r.app_version && same(other(k), s));
      if (!carried) drop.run(groupId, day, r.app_version, otherKind, s);
    }
    return gone.length;
  };

  let count = 0;
  for (const { group_id, day } of days) {
    const reports = ofGroupDay.all(group_id, day * DAY_MS, (day + 1) * DAY_MS);
    const gone = reports.filter(theirs);
    const kept = reports.filter((r) => !theirs(r));
    count += erase(group_id, day, gone, kept);
  }
  // Subject rows before the horizon count for nothing and are due to go, so none need keeping.
  for (const r of beforeHorizon.all(subjectsFrom(db) * DAY_MS, value)) {
    count += erase(r.group_id, dayOf(r.received_at), [r], []);
  }
  db.prepare('DELETE FROM group_subjects WHERE kind = ? AND subject = ?').run(kind, value);
  // Their records are zeroed in the day files once this commits (applyWipes).
  noteWipes(db, records);
  return count;
}

/**
 * Keeps an erased report's occurrences (1 + repeats), without anything that names it or its
 * subject, where the counts of partial hours at a window's edges look for them (they count the
 * reports themselves there): every window then counts the same after an erasure as before.
 */
function occurrenceKeeper(db: Db): (r: StoredReport) => void {
  const keep = db.prepare<[string, number, string, number, number]>(
    'INSERT INTO erased_occurrences (group_id, received_at, app_version, line, n) VALUES (?, ?, ?, ?, ?)',
  );
  return (r) => keep.run(r.group_id, r.received_at, r.app_version, r.line, 1 + (r.repeats ?? 0));
}

/** The look-up rows' view of a stored report. */
function keyed(r: StoredReport): KeyedReport {
  return {
    seq: r.seq,
    id: r.id,
    groupId: r.group_id,
    keyDay: r.key_day,
    receivedAt: r.received_at,
  };
}

/** Whether two pseudonyms (licences, or username hashes) are the same. */
function same(a: Buffer | string | null, b: Buffer | string): boolean {
  return typeof b === 'string' ? a === b : Buffer.isBuffer(a) && a.equals(b);
}

/**
 * Copies the write-ahead log into the database and truncates it, so no page of the erased
 * reports survives in the -wal file. False when a reader kept it from completing.
 */
export function wipeWal(db: Db): boolean {
  const [r] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
  return r?.busy === 0;
}

/**
 * How the access log names an erased subject: a keyed hash under the audit key (never the
 * username or licence itself), so an admin holding the keys can confirm an erasure took place
 * but the log reveals nobody.
 *
 * @example
 * erasureTarget(keyring.auditKey, { username: 'asmith' }); // 'username:5c1e0a9b3f7d2e84'
 */
export function erasureTarget(auditKey: Uint8Array, subject: DataSubject): string {
  const [kind, value] =
    'username' in subject ? ['username', subject.username] : ['license', subject.license];
  const digest = crypto
    .createHmac('sha256', auditKey)
    .update(`erasure\0${kind}\0${value}`)
    .digest('hex')
    .slice(0, 16);
  return `${kind}:${digest}`;
}
