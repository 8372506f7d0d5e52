import crypto from 'node:crypto';
import type { Db } from './db';
import type { Keyring } from '../crypto/keyring';
import { DAY_MS, dayOf } from '../time';
import { ReportKeys, type KeyedReport } from './report-keys';
import { keepSubjectDaysOnRemoval, LICENCE, USER, subjectsFrom } from './subject-days';
import { removedOccurrenceKeeper } from './occurrences';
import { noteWipes, RETURNING_RECORDS, type RecordRow } from './sealed-wipes';

/** Whose reports an erasure destroys (GDPR article 17): exactly one of the two. */
export type DataSubject = { username: string } | { license: string };

/** What an erasure reads of a stored report. */
export interface StoredReport {
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

/** A data subject as the database holds it: a username's keyed hash, or a licence. */
export interface SubjectKey {
  kind: typeof USER | typeof LICENCE;
  value: Buffer | string;
}

/** The subject's kind and value in the database: usernames are only stored as keyed hashes. */
export function subjectKey(keyring: Keyring, subject: DataSubject): SubjectKey {
  return 'username' in subject
    ? { kind: USER, value: keyring.userHash(subject.username) }
    : { kind: LICENCE, value: subject.license };
}

/**
 * What an erasure deletes, as found in one snapshot: the subject's reports, and the rows of their
 * other pseudonyms (a licence erasure's users, a username's licences) that no other report of the
 * same group, day and version carries. Plain data, so that the finding can run on the read thread
 * (store/triage.ts) and only applyErasure() on the connection that writes. Its Buffers cross
 * threads as plain Uint8Arrays, which SQLite binds as the same blobs.
 */
export interface ErasurePlan {
  subject: SubjectKey;
  /** the newest report in the snapshot: applyErasure() checks the reports stored since */
  upTo: number;
  gone: StoredReport[];
  /** [group, day, version, pseudonym] of the other kind */
  drops: [string, number, string, Buffer | string][];
}

/**
 * Deletes every report of a data subject, named by the username's keyed hash (usernames are only
 * stored sealed) or by licence, and the pseudonyms the distinct counts hold for them: all of the
 * subject's own, and any other one only the erased reports had brought (so a licence erasure
 * also takes its users' hashes along). Occurrence counts hold nothing personal and stay, in
 * every window (removed_occurrences). The ids stay known until their day expires, so the same
 * report sent again is not stored again. planErasure() and applyErasure() in one go.
 *
 * Call inside a transaction; secure_delete zeroes the freed bytes. After the commit, `applyWipes`
 * zeroes the reports' sealed records in their day files, and `truncateWal` removes the copies of
 * deleted rows the write-ahead log still holds.
 *
 * @example
 * const n = db.transaction(() => eraseSubject(db, keyring, { username: 'asmith' }))();
 * applyWipes(db, sealedDir(db.name));
 */
export function eraseSubject(db: Db, keyring: Keyring, subject: DataSubject): number {
  return applyErasure(db, planErasure(db, subjectKey(keyring, subject)));
}

/**
 * Finds what erasing a subject deletes; reads only, so call it in a read transaction (one
 * snapshot), on any connection. This is an erasure's cost: some 800 ms for a licence of 200
 * reports in a store of a million.
 *
 * The reports are found through the distinct counts' rows (group_subjects): the subject's rows
 * name each group and UTC day it has reports in, and that group's reports of the day are one
 * range of report_groups. So ingest writes no look-up row per username or licence. The same read
 * gives the day's other reports, which decide whose pseudonyms must stay. Expiry deletes a day's
 * subject rows as soon as its cutoff reaches into the day, and the day's later reports only at
 * its next run: those, before the horizon of subject rows, are read by time of receipt.
 */
export function planErasure(db: Db, subject: SubjectKey): ErasurePlan {
  const { kind, value } = subject;
  const { other } = sides(subject);
  const upTo = db.prepare<[], number>('SELECT ifnull(max(seq), 0) FROM reports').pluck().get()!;

  const days = db
    .prepare<[number, Buffer | string], { group_id: string; day: number }>(
      'SELECT DISTINCT group_id, day FROM group_subjects WHERE kind = ? AND subject = ?',
    )
    .all(kind, value);
  // Before the horizon no subject rows are left to name the days; the receipt index bounds them.
  const beforeHorizon = db.prepare<[number, Buffer | string], StoredReport>(
    `SELECT ${COLUMNS} FROM reports r
     WHERE r.received_at < ? AND r.${kind === USER ? 'user_hash' : 'license'} = ?`,
  );
  const plan: ErasurePlan = { subject, upTo, gone: [], drops: [] };
  const planDay = groupDayPlanner(db, subject);
  for (const { group_id, day } of days) planDay(plan, group_id, day);
  // Subject rows before the horizon count for nothing and are due to go, so none need keeping.
  for (const r of beforeHorizon.all(subjectsFrom(db) * DAY_MS, value)) {
    plan.gone.push(r);
    const s = other(r);
    if (s !== null) plan.drops.push([r.group_id, dayOf(r.received_at), r.app_version, s]);
  }
  return plan;
}

/**
 * Plans one group's UTC day: adds to a plan the subject's reports of the group that day, and the
 * rows of their other pseudonyms that no other report of the group, day and version carries.
 */
function groupDayPlanner(db: Db, subject: SubjectKey) {
  const { own, other } = sides(subject);
  const theirs = (r: StoredReport) => same(own(r), subject.value);
  const ofGroupDay = db.prepare<[string, number, number], StoredReport>(
    `SELECT ${COLUMNS} FROM report_groups k JOIN reports r ON r.seq = k.seq
     WHERE k.group_id = ? AND k.received_at >= ? AND k.received_at < ?`,
  );
  return (plan: ErasurePlan, group: string, day: number): void => {
    const reports = ofGroupDay.all(group, day * DAY_MS, (day + 1) * DAY_MS);
    // The pseudonym rows the day's other reports carry: those stay.
    const kept = new Set<string>();
    for (const r of reports)
      if (!theirs(r)) kept.add(pseudonymRow(group, day, r.app_version, other(r)));
    const seen = new Set<string>();
    for (const r of reports) {
      if (!theirs(r)) continue;
      plan.gone.push(r);
      const s = other(r);
      if (s === null) continue;
      const row = pseudonymRow(group, day, r.app_version, s);
      if (seen.has(row) || kept.has(row)) continue;
      seen.add(row);
      plan.drops.push([group, day, r.app_version, s]);
    }
  };
}

/**
 * A plan made in an older snapshot, brought up to this transaction, given the reports stored
 * since (those after `upTo`). The group days in which the subject has new reports are planned
 * again from what is stored now: a busy subject's today, not all its days (planning them all
 * again held the event loop 150-400 ms for a licence of 2,000 reports). Elsewhere, a pseudonym
 * row that a new report carries is kept.
 */
function caughtUp(db: Db, plan: ErasurePlan, since: StoredReport[]): ErasurePlan {
  if (since.length === 0) return plan;
  const { own, other } = sides(plan.subject);
  const again = new Map<string, [string, number]>();
  const carried = new Set<string>();
  for (const r of since) {
    const day = dayOf(r.received_at);
    if (same(own(r), plan.subject.value)) again.set(`${r.group_id}\0${day}`, [r.group_id, day]);
    else carried.add(pseudonymRow(r.group_id, day, r.app_version, other(r)));
  }
  const replanned = (group: string, day: number) => again.has(`${group}\0${day}`);
  const next: ErasurePlan = {
    ...plan,
    gone: plan.gone.filter((r) => !replanned(r.group_id, dayOf(r.received_at))),
    drops: plan.drops.filter((d) => !replanned(d[0], d[1]) && !carried.has(pseudonymRow(...d))),
  };
  const planDay = groupDayPlanner(db, plan.subject);
  for (const [group, day] of again.values()) planDay(next, group, day);
  return next;
}

/**
 * Carries out a plan; call inside a write transaction. The plan may be from an older snapshot
 * (the read thread's): reports stored since then are read here (those after `upTo`, a few at
 * most). Where one is the subject's, that group's day is planned again here, in this
 * transaction; one that carries a pseudonym the plan would drop keeps it. A planned report
 * already gone (expired since) is passed over. Erasures must not run two at a time: each plan
 * counts on the other's reports.
 * Returns the number of reports erased.
 */
export function applyErasure(db: Db, plan: ErasurePlan): number {
  keepSubjectDaysOnRemoval(db);
  const { kind, value } = plan.subject;
  const { otherKind } = sides(plan.subject);
  const since = db
    .prepare<[number], StoredReport>(`SELECT ${COLUMNS} FROM reports r WHERE r.seq > ?`)
    .all(plan.upTo);
  plan = caughtUp(db, plan, since);

  const deleteReport = db
    .prepare<[number], RecordRow>(`DELETE FROM reports WHERE seq = ? ${RETURNING_RECORDS}`)
    .raw();
  const records: RecordRow[] = [];
  const keys = new ReportKeys(db);
  const keepCount = occurrenceKeeper(db);
  let count = 0;
  for (const r of plan.gone) {
    const record = deleteReport.get(r.seq);
    if (!record) continue;
    records.push(record);
    count++;
    // The id row stays (until its day expires): the same report sent again, an SDK retry whose
    // first answer was lost, is answered 200 and not stored again after the erasure.
    keys.removeFromGroup(keyed(r));
    keepCount(r);
  }
  const drop = db.prepare(
    'DELETE FROM group_subjects WHERE group_id = ? AND day = ? AND version = ? AND kind = ? AND subject = ?',
  );
  for (const [group, day, version, s] of plan.drops) drop.run(group, day, version, otherKind, s);
  db.prepare('DELETE FROM group_subjects WHERE kind = ? AND subject = ?').run(kind, value);
  // Their records are zeroed in the day files once this commits (applyWipes).
  noteWipes(db, records);
  return count;
}

/** A report holds a licence and (mostly) a username hash: the subject's kind, and the other. */
function sides(subject: SubjectKey) {
  return subject.kind === USER
    ? { own: userOf, other: licenceOf, otherKind: LICENCE }
    : { own: licenceOf, other: userOf, otherKind: USER };
}

/** One distinct-count row of a pseudonym: group, UTC day, version, pseudonym. */
function pseudonymRow(
  group: string,
  day: number,
  version: string,
  s: Buffer | string | null,
): string {
  const text =
    s === null ? '' : typeof s === 'string' ? `l${s}` : `u${Buffer.from(s).toString('hex')}`;
  return `${group}\0${day}\0${version}\0${text}`;
}

/**
 * Keeps an erased report's occurrences (1 + repeats), without anything that names it or its
 * subject, where the counts of partial hours at a window's edges look for them (they count the
 * reports themselves there): every window then counts the same after an erasure as before.
 */
function occurrenceKeeper(db: Db): (r: StoredReport) => void {
  const keep = removedOccurrenceKeeper(db);
  return (r) =>
    keep({
      groupId: r.group_id,
      receivedAt: r.received_at,
      version: r.app_version,
      line: r.line,
      n: 1 + (r.repeats ?? 0),
    });
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
