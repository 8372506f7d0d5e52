import type { Db } from './db';
import { dayLastMs } from '../retention/policy';

/** What the look-up rows of one stored report are made from. */
export interface KeyedReport {
  seq: number;
  id: string;
  groupId: string;
  keyDay: string;
  receivedAt: number;
}

/**
 * The look-up rows of reports: by id under the day of receipt (report_ids), and by group in order
 * of receipt (report_groups). They are tables of their own rather than indexes on `reports` so
 * that expiry can delete each in its own key order (`ExpiredKeys`); see the schema. Readers join
 * them to `reports`, so a look-up row whose report is already gone (between two expiry phases, or
 * after a crash there) finds nothing.
 *
 * @example
 * const keys = new ReportKeys(db);
 * keys.add(seq, { id, groupId, keyDay: '2026-11-28', receivedAt });
 */
export class ReportKeys {
  private readonly insertId;
  private readonly insertGroup;
  private readonly deleteId;
  private readonly deleteGroup;
  private readonly keepGroup;

  constructor(db: Db) {
    this.insertId = db.prepare<[string, string, number, number]>(
      'INSERT OR IGNORE INTO report_ids (key_day, id, received_at, seq) VALUES (?, ?, ?, ?)',
    );
    this.insertGroup = db.prepare<[string, number, number]>(
      'INSERT OR IGNORE INTO report_groups (group_id, received_at, seq) VALUES (?, ?, ?)',
    );
    this.deleteId = db.prepare<[string, string, number]>(
      'DELETE FROM report_ids WHERE key_day = ? AND id = ? AND seq = ?',
    );
    this.deleteGroup = db.prepare<[string, number, number]>(
      'DELETE FROM report_groups WHERE group_id = ? AND received_at = ? AND seq = ?',
    );
    this.keepGroup = db.prepare<[string, string, string, number]>(
      'UPDATE report_ids SET group_id = ? WHERE key_day = ? AND id = ? AND seq = ?',
    );
  }

  /** Adds a stored report's look-up rows; call in the transaction that inserted the report. */
  add(seq: number, r: Omit<KeyedReport, 'seq'>): void {
    this.insertId.run(r.keyDay, r.id, r.receivedAt, seq);
    this.insertGroup.run(r.groupId, r.receivedAt, seq);
  }

  /** Removes one report's look-up rows; call in the transaction that deletes it. */
  remove(r: KeyedReport): void {
    this.deleteId.run(r.keyDay, r.id, r.seq);
    this.removeFromGroup(r);
  }

  /**
   * Removes one report from its group's list but keeps its id known (erasure): ingest answers
   * the id 200 as stored before, and readers, who join to reports, find nothing.
   */
  removeFromGroup(r: KeyedReport): void {
    this.deleteGroup.run(r.groupId, r.receivedAt, r.seq);
    // The id row keeps the group (nothing personal) for that answer: a retry, even changed,
    // is answered with the group the report was stored under.
    this.keepGroup.run(r.groupId, r.keyDay, r.id, r.seq);
  }
}

/**
 * The expiry job's deletions of look-up rows received at or before a cutoff: one day of
 * report_ids, then one group of report_groups, at a time, each a contiguous range of its table,
 * so every page is rewritten (and zeroed) once rather than once per chunk.
 *
 * A chunk finds the key of its last row, then deletes the key range up to it in one pass: about
 * twice as fast as deleting a list of keys, each a search of the tree. The one range that is not
 * contiguous, the ids of a day the cutoff falls inside (ids are in random order, receipt times
 * mixed), is deleted key by key.
 */
export class ExpiredKeys {
  private readonly firstDay;
  private readonly dayEnd;
  private readonly dayRange;
  private readonly dayRest;
  private readonly partOfDay;
  private readonly firstGroup;
  private readonly groupEnd;
  private readonly groupRange;
  private readonly groupRest;

  constructor(db: Db) {
    this.firstDay = db
      .prepare<[string, string], string>(
        'SELECT key_day FROM report_ids WHERE key_day > ? AND key_day <= ? ORDER BY key_day LIMIT 1',
      )
      .pluck();
    // The key of the day's limit-th row: the end of the chunk's range.
    this.dayEnd = db
      .prepare<[string, number], [string, number]>(
        'SELECT id, seq FROM report_ids WHERE key_day = ? ORDER BY id, seq LIMIT 1 OFFSET ?',
      )
      .raw();
    this.dayRange = db.prepare<[string, string, string, number]>(
      'DELETE FROM report_ids WHERE key_day = ? AND id <= ? AND (id < ? OR seq <= ?)',
    );
    this.dayRest = db.prepare<[string]>('DELETE FROM report_ids WHERE key_day = ?');
    this.partOfDay = db.prepare<[string, number, number]>(
      `DELETE FROM report_ids WHERE (key_day, id, seq) IN
         (SELECT key_day, id, seq FROM report_ids WHERE key_day = ? AND received_at <= ? LIMIT ?)`,
    );
    this.firstGroup = db
      .prepare<[string], string>(
        'SELECT group_id FROM report_groups WHERE group_id > ? ORDER BY group_id LIMIT 1',
      )
      .pluck();
    this.groupEnd = db
      .prepare<[string, number, number], [number, number]>(
        `SELECT received_at, seq FROM report_groups WHERE group_id = ? AND received_at <= ?
         ORDER BY received_at, seq LIMIT 1 OFFSET ?`,
      )
      .raw();
    this.groupRange = db.prepare<[string, number, number, number]>(
      `DELETE FROM report_groups
       WHERE group_id = ? AND received_at <= ? AND (received_at < ? OR seq <= ?)`,
    );
    this.groupRest = db.prepare<[string, number]>(
      'DELETE FROM report_groups WHERE group_id = ? AND received_at <= ?',
    );
  }

  /** The first day after `after` (a day name, '' for the first) up to `lastDay` with id rows. */
  nextDay(after: string, lastDay: string): string | undefined {
    return this.firstDay.get(after, lastDay);
  }

  /** Deletes at most `limit` of the day's id rows received at or before `cutoff`. */
  deleteDay(day: string, cutoff: number, limit: number): number {
    // key_day is the day of receipt: when the whole day is past the cutoff, so is every row.
    if (dayLastMs(day) > cutoff) return this.partOfDay.run(day, cutoff, limit).changes;
    const end = this.dayEnd.get(day, limit - 1);
    if (!end) return this.dayRest.run(day).changes;
    const [id, seq] = end;
    return this.dayRange.run(day, id, id, seq).changes;
  }

  /** The first group after `after` ('' for the first) that has group rows. */
  nextGroup(after: string): string | undefined {
    return this.firstGroup.get(after);
  }

  /** Deletes at most `limit` of the group's rows received at or before `cutoff`. */
  deleteGroup(groupId: string, cutoff: number, limit: number): number {
    const end = this.groupEnd.get(groupId, cutoff, limit - 1);
    if (!end) return this.groupRest.run(groupId, cutoff).changes;
    const [at, seq] = end;
    return this.groupRange.run(groupId, at, at, seq).changes;
  }
}
