import type { Db } from './db';

/**
 * report_keys.kind: what a look-up row holds. Usernames only ever as their keyed hash.
 */
export const KEY_KIND = { id: 0, user: 1, licence: 2 } as const;

/** What the look-up rows of one stored report are made from. */
export interface KeyedReport {
  seq: number;
  id: string;
  groupId: string;
  keyDay: string;
  receivedAt: number;
  userHash: Buffer | null;
  license: string;
}

/**
 * The look-up rows of reports: by id, username hash and licence under the day of receipt
 * (report_keys), and by group in order of receipt (report_groups). They are tables of their own
 * rather than indexes on `reports` so that expiry can delete each in its own key order
 * (`ExpiredKeys`); see the schema. Readers join them to `reports`, so a look-up row whose report
 * is already gone (between two expiry phases, or after a crash there) finds nothing.
 *
 * @example
 * const keys = new ReportKeys(db);
 * keys.add(seq, { id, groupId, keyDay: '2026-11-28', receivedAt, userHash, license });
 */
export class ReportKeys {
  private readonly insertKey;
  private readonly insertGroup;
  private readonly deleteKey;
  private readonly deleteGroup;

  constructor(db: Db) {
    this.insertKey = db.prepare<[string, number, string | Buffer, number, number]>(
      'INSERT OR IGNORE INTO report_keys (key_day, kind, value, received_at, seq) VALUES (?, ?, ?, ?, ?)',
    );
    this.insertGroup = db.prepare<[string, number, number]>(
      'INSERT OR IGNORE INTO report_groups (group_id, received_at, seq) VALUES (?, ?, ?)',
    );
    this.deleteKey = db.prepare<[string, number, string | Buffer, number]>(
      'DELETE FROM report_keys WHERE key_day = ? AND kind = ? AND value = ? AND seq = ?',
    );
    this.deleteGroup = db.prepare<[string, number, number]>(
      'DELETE FROM report_groups WHERE group_id = ? AND received_at = ? AND seq = ?',
    );
  }

  /** Adds a stored report's look-up rows; call in the transaction that inserted the report. */
  add(seq: number, r: Omit<KeyedReport, 'seq'>): void {
    this.insertKey.run(r.keyDay, KEY_KIND.id, r.id, r.receivedAt, seq);
    if (r.userHash) this.insertKey.run(r.keyDay, KEY_KIND.user, r.userHash, r.receivedAt, seq);
    this.insertKey.run(r.keyDay, KEY_KIND.licence, r.license, r.receivedAt, seq);
    this.insertGroup.run(r.groupId, r.receivedAt, seq);
  }

  /** Removes one report's look-up rows (erasure); call in the transaction that deletes it. */
  remove(r: KeyedReport): void {
    this.deleteKey.run(r.keyDay, KEY_KIND.id, r.id, r.seq);
    if (r.userHash) this.deleteKey.run(r.keyDay, KEY_KIND.user, r.userHash, r.seq);
    this.deleteKey.run(r.keyDay, KEY_KIND.licence, r.license, r.seq);
    this.deleteGroup.run(r.groupId, r.receivedAt, r.seq);
  }
}

/**
 * The expiry job's deletions of look-up rows received at or before a cutoff: one day of
 * report_keys, then one group of report_groups, at a time, each a contiguous range of its table,
 * so every page is rewritten (and zeroed) once rather than once per chunk.
 */
export class ExpiredKeys {
  private readonly firstDay;
  private readonly dayChunk;
  private readonly firstGroup;
  private readonly groupChunk;

  constructor(db: Db) {
    this.firstDay = db
      .prepare<[string, string], string>(
        'SELECT key_day FROM report_keys WHERE key_day > ? AND key_day <= ? ORDER BY key_day LIMIT 1',
      )
      .pluck();
    this.dayChunk = db.prepare<[string, number, number]>(
      `DELETE FROM report_keys WHERE (key_day, kind, value, seq) IN
         (SELECT key_day, kind, value, seq FROM report_keys WHERE key_day = ? AND received_at <= ? LIMIT ?)`,
    );
    this.firstGroup = db
      .prepare<[string], string>(
        'SELECT group_id FROM report_groups WHERE group_id > ? ORDER BY group_id LIMIT 1',
      )
      .pluck();
    this.groupChunk = db.prepare<[string, number, number]>(
      `DELETE FROM report_groups WHERE (group_id, received_at, seq) IN
         (SELECT group_id, received_at, seq FROM report_groups WHERE group_id = ? AND received_at <= ? LIMIT ?)`,
    );
  }

  /** The first day after `after` (a day name, '' for the first) up to `lastDay` with key rows. */
  nextDay(after: string, lastDay: string): string | undefined {
    return this.firstDay.get(after, lastDay);
  }

  /** Deletes at most `limit` of the day's key rows received at or before `cutoff`. */
  deleteDay(day: string, cutoff: number, limit: number): number {
    return this.dayChunk.run(day, cutoff, limit).changes;
  }

  /** The first group after `after` ('' for the first) that has group rows. */
  nextGroup(after: string): string | undefined {
    return this.firstGroup.get(after);
  }

  /** Deletes at most `limit` of the group's rows received at or before `cutoff`. */
  deleteGroup(groupId: string, cutoff: number, limit: number): number {
    return this.groupChunk.run(groupId, cutoff, limit).changes;
  }
}
