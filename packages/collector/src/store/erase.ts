import crypto from 'node:crypto';
import type { Db } from './db';
import type { Keyring } from '../crypto/keyring';
import { DAY_MS, dayName, dayOf } from '../time';
import { DayQuery, storedDays } from './stored-days';
import { KEY_KIND, ReportKeys } from './report-keys';

/** Whose reports an erasure destroys (GDPR article 17): exactly one of the two. */
export type DataSubject = { username: string } | { license: string };

/** group_subjects.kind */
const USER = 0;
const LICENCE = 1;

interface ErasedRow {
  seq: number;
  id: string;
  key_day: string;
  group_id: string;
  received_at: number;
  app_version: string;
  license: string;
  user_hash: Buffer | null;
}

/**
 * Deletes every report of a data subject, found by the username's keyed hash (usernames are only
 * stored sealed) or by licence, and the pseudonyms the distinct counts hold for them: all of the
 * subject's own, and any other one only the erased reports had brought (so a licence erasure
 * also takes its users' hashes along). Occurrence counts hold nothing personal and stay.
 * Call inside a transaction; secure_delete zeroes the freed bytes, and `wipeWal` then
 * removes the copies the write-ahead log still holds.
 *
 * @example
 * const n = db.transaction(() => eraseSubject(db, keyring, { username: 'asmith' }))();
 */
export function eraseSubject(db: Db, keyring: Keyring, subject: DataSubject): number {
  const [keyKind, value, kind] =
    'username' in subject
      ? ([KEY_KIND.user, keyring.userHash(subject.username), USER] as const)
      : ([KEY_KIND.licence, subject.license, LICENCE] as const);
  // Found through the look-up rows under each stored day of receipt.
  const days = storedDays(db);
  const erased = new DayQuery<ErasedRow>(
    db,
    `SELECT r.seq, r.id, r.group_id, r.key_day, r.received_at, r.app_version, r.license, r.user_hash
     FROM report_keys k JOIN reports r ON r.seq = k.seq
     WHERE k.key_day IN (:days) AND k.kind = ? AND k.value = ?`,
  ).all(days, keyKind, value);
  const deleteReport = db.prepare<[number]>('DELETE FROM reports WHERE seq = ?');
  const keys = new ReportKeys(db);
  for (const r of erased) {
    deleteReport.run(r.seq);
    keys.remove({
      seq: r.seq,
      id: r.id,
      groupId: r.group_id,
      keyDay: r.key_day,
      receivedAt: r.received_at,
      userHash: r.user_hash,
      license: r.license,
    });
  }
  // And any look-up row of the subject whose report an interrupted expiry run already deleted.
  new DayQuery(
    db,
    'DELETE FROM report_keys WHERE key_day IN (:days) AND kind = ? AND value = ?',
  ).run(days, keyKind, value);
  const count = erased.length;
  db.prepare('DELETE FROM group_subjects WHERE kind = ? AND subject = ?').run(kind, value);

  const survivor = {
    [USER]: survivorQuery(db, KEY_KIND.user),
    [LICENCE]: survivorQuery(db, KEY_KIND.licence),
  };
  const drop = db.prepare(
    'DELETE FROM group_subjects WHERE group_id = ? AND day = ? AND version = ? AND kind = ? AND subject = ?',
  );
  const seen = new Set<string>();
  for (const r of erased) {
    const day = dayOf(r.received_at);
    const others: [number, Buffer | string | null][] = [
      [USER, r.user_hash],
      [LICENCE, r.license],
    ];
    for (const [k, s] of others) {
      if (k === kind || s === null) continue;
      const id = [r.group_id, day, r.app_version, k, Buffer.from(s).toString('hex')].join('\0');
      if (seen.has(id)) continue;
      seen.add(id);
      const kept = survivor[k as 0 | 1].get(
        dayName(day * DAY_MS),
        s,
        r.group_id,
        r.app_version,
        day * DAY_MS,
        (day + 1) * DAY_MS,
      );
      if (!kept) drop.run(r.group_id, day, r.app_version, k, s);
    }
  }
  return count;
}

/** A report of the day, other than the erased ones, that still carries this subject in the group and version. */
function survivorQuery(db: Db, keyKind: number) {
  return db.prepare(
    `SELECT 1 FROM report_keys k JOIN reports r ON r.seq = k.seq
     WHERE k.key_day = ? AND k.kind = ${keyKind} AND k.value = ? AND r.group_id = ? AND r.app_version = ?
       AND r.received_at >= ? AND r.received_at < ? LIMIT 1`,
  );
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
