import crypto from 'node:crypto';
import type { Db } from './db';
import type { Keyring } from '../crypto/keyring';
import { DAY_MS, dayName, dayOf } from '../time';
import { DayQuery, storedDays } from './stored-days';

/** Whose reports an erasure destroys (GDPR article 17): exactly one of the two. */
export type DataSubject = { username: string } | { license: string };

/** group_subjects.kind */
const USER = 0;
const LICENCE = 1;

interface ErasedRow {
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
  const [column, value, kind] =
    'username' in subject
      ? (['user_hash', keyring.userHash(subject.username), USER] as const)
      : (['license', subject.license, LICENCE] as const);
  // Both look-ups go through the (key_day, subject) indexes, one day at a time.
  const days = storedDays(db);
  const erased = new DayQuery<ErasedRow>(
    db,
    `SELECT group_id, received_at, app_version, license, user_hash FROM reports
     WHERE key_day IN (:days) AND ${column} = ?`,
  ).all(days, value);
  const count = new DayQuery(
    db,
    `DELETE FROM reports WHERE key_day IN (:days) AND ${column} = ?`,
  ).run(days, value);
  db.prepare('DELETE FROM group_subjects WHERE kind = ? AND subject = ?').run(kind, value);

  const survivor = {
    [USER]: db.prepare(
      `SELECT 1 FROM reports WHERE key_day = ? AND user_hash = ? AND group_id = ? AND app_version = ?
       AND received_at >= ? AND received_at < ? LIMIT 1`,
    ),
    [LICENCE]: db.prepare(
      `SELECT 1 FROM reports WHERE key_day = ? AND license = ? AND group_id = ? AND app_version = ?
       AND received_at >= ? AND received_at < ? LIMIT 1`,
    ),
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
