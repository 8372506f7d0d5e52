import { compareVersions, groupId, type Report } from '@jcs/protocol';
import { DbFileWatch } from './db-file-watch';
import type { Transaction } from 'better-sqlite3';
import { withoutCommitSync, type Db } from './db';
import type { Keyring } from '../crypto/keyring';
import { keyTag, sealBytes, sealField } from '../crypto/fields';
import { packDump } from './dump-envelope';
import { DayQuery, storedDays } from './stored-days';
import { ReportKeys } from './report-keys';
import { idFilter, type IdFilter } from './id-filter';
import { removedOccurrenceKeeper } from './occurrences';
import { dayName, dayOf, hourOf } from '../time';
import { storageUnavailable } from '../ingest/unavailable';
import { SealedAppender } from './sealed-files';
import { encodeRecord } from './sealed-record';
import { BatchKeys, type KeyCheck } from './batch-keys';
import type { WalSync } from './wal-sync';

/** A report made ready to store: grouped, personal fields sealed under the day's data key. */
export interface PreparedReport {
  id: string;
  groupId: string;
  appName: string;
  number: number;
  module: string;
  procedure: string;
  version: string;
  license: string;
  line: number;
  /** as sent: null when the report had no repeats field */
  repeats: number | null;
  occurredAt: string;
  dumpWithheld: string | null;
  userHash: Buffer | null;
  username: Buffer | null;
  description: Buffer;
  code: Buffer | null;
  dump: Buffer | null;
  keyDay: string;
  /** the day key's tag (crypto/fields.ts), kept in the record */
  keyTag: number;
  /**
   * The fingerprint of the day's key the report was sealed under (crypto/keyring.ts
   * dayKeyFingerprint): another process's expiry may shred that key before the report commits.
   */
  keyPrint: string | null;
  receivedAt: number;
}

export interface StoredResult {
  id: string;
  group: string;
  /** false when this id was stored before (an idempotent retry) */
  created: boolean;
}

/**
 * Seals a validated report. CPU work only (and, on the day's first report, writing the day's
 * key), done before the write transaction so the transaction (which holds the database's single
 * writer) stays short. Throws a 503 `unavailable` ApiError when the day's key cannot be created.
 *
 * @example
 * const prepared = prepareReport(validated, keyring, Date.now());
 */
export function prepareReport(
  report: Report,
  keyring: Keyring,
  receivedAt: number,
  group = groupOf(report),
): PreparedReport {
  const keyDay = dayName(receivedAt);
  const key = dayKeyForWriting(keyring, keyDay);
  const e = report.error;
  return {
    id: report.id,
    groupId: group,
    appName: report.app.name,
    number: e.number,
    module: e.module,
    procedure: e.procedure,
    version: report.app.version,
    license: report.license,
    line: e.line,
    repeats: report.repeats ?? null,
    occurredAt: report.occurredAt,
    dumpWithheld: report.dumpWithheld ?? null,
    userHash: report.username ? keyring.userHash(report.username) : null,
    username: report.username !== undefined ? sealField(report.username, key) : null,
    description: sealField(e.description, key),
    code: e.code !== undefined ? sealField(e.code, key) : null,
    dump: report.dump ? sealBytes(packDump(report.dump), key) : null,
    keyDay,
    keyTag: keyTag(key),
    keyPrint: keyring.sealedUnder(keyDay),
    receivedAt,
  };
}

/**
 * The report's group id, from the four values the contract groups by.
 *
 * @example
 * groupOf(report); // '3fa9c1d2e4b7'
 */
export function groupOf(report: Report): string {
  const e = report.error;
  return groupId(report.app.name, e.number, e.module, e.procedure);
}

/**
 * The day's data key, created on the day's first report. Creating it writes and syncs a file in
 * the keys folder; when that fails (disk full, folder damaged) the report cannot be sealed, which
 * is the storage refusing it: 503 with Retry-After, nothing stored.
 */
function dayKeyForWriting(keyring: Keyring, keyDay: string): Uint8Array {
  let key: Uint8Array | null;
  try {
    key = keyring.dayKey(keyDay, true);
  } catch (e) {
    throw storageUnavailable(e);
  }
  if (!key) throw storageUnavailable(new Error(`no data key for ${keyDay}`));
  return key;
}

/**
 * Writes batches of reports, each batch in one transaction with the group aggregates, so one
 * fsync covers many reports (group commit).
 */
export class IngestWriter {
  private readonly findReport;
  private readonly keys: ReportKeys;
  private readonly ids: IdFilter;
  private readonly insertReport;
  private readonly findGroup;
  private readonly insertGroup;
  private readonly updateGroup;
  private readonly addHour;
  private readonly addDay;
  private readonly addLine;
  private readonly addSubject;
  private readonly addSubjectDay;
  private readonly keepRemoved;
  /** `syncs`: whether the batch syncs its records and its commit itself */
  private readonly lookUp: Transaction<(items: PreparedReport[]) => (StoredResult | undefined)[]>;
  private readonly batch: Transaction<
    (items: PreparedReport[], syncs: boolean, keys: KeyCheck) => StoredResult[]
  >;
  private readonly sealed: SealedAppender;
  private readonly dbFile: DbFileWatch;

  /**
   * @param keysDir the keys folder: each batch then checks, under the write lock, that its reports'
   * day keys are still the ones they were sealed under (`write`)
   */
  constructor(
    private readonly db: Db,
    private readonly keysDir?: string,
  ) {
    this.sealed = new SealedAppender(db);
    this.dbFile = new DbFileWatch(db.name);
    this.findReport = new DayQuery<{ group_id: string | null }>(
      db,
      // LEFT JOIN: an erased report's id is still known (erase.ts), without its report. The ids
      // must match too: SQLite gives a new row the largest seq + 1, so once the newest report is
      // erased its seq goes to the next report stored, which an erased id must not find.
      `SELECT IFNULL(r.group_id, k.group_id) AS group_id
       FROM report_ids k LEFT JOIN reports r ON r.seq = k.seq AND r.id = k.id
       WHERE k.key_day IN (:days) AND k.id = ?`,
    );
    this.keys = new ReportKeys(db);
    this.ids = idFilter(db);
    this.insertReport = db.prepare(
      `INSERT INTO reports (id, group_id, received_at, key_day, occurred_at, app_version, license, line, repeats,
         dump_withheld, user_hash, sealed_at, sealed_len)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.findGroup = db.prepare<[string], { status: string; resolved_in_version: string | null }>(
      'SELECT status, resolved_in_version FROM groups WHERE id = ?',
    );
    this.insertGroup = db.prepare(
      `INSERT INTO groups (id, app_name, number, module, procedure, first_seen, last_seen)
       VALUES (@groupId, @appName, @number, @module, @procedure, @receivedAt, @receivedAt)`,
    );
    this.updateGroup = db.prepare<[{ at: number; regress: number; id: string }]>(
      `UPDATE groups SET first_seen = min(first_seen, @at), last_seen = max(last_seen, @at),
         status = CASE WHEN @regress THEN 'unresolved' ELSE status END,
         regressed = CASE WHEN @regress THEN 1 ELSE regressed END
       WHERE id = @id`,
    );
    this.addDay = db.prepare<[string, number, string, number]>(
      `INSERT INTO group_days (group_id, day, version, count) VALUES (?, ?, ?, ?)
       ON CONFLICT DO UPDATE SET count = count + excluded.count`,
    );
    this.addHour = db.prepare<[string, number, string, number]>(
      `INSERT INTO group_hours (group_id, hour, version, count) VALUES (?, ?, ?, ?)
       ON CONFLICT DO UPDATE SET count = count + excluded.count`,
    );
    this.addLine = db.prepare<[string, number, number, number]>(
      `INSERT INTO group_lines (group_id, hour, line, count) VALUES (?, ?, ?, ?)
       ON CONFLICT DO UPDATE SET count = count + excluded.count`,
    );
    // A subject's first report of the day in a group and version; the table's triggers count it
    // in group_subject_days (subject-days.ts), which triage reads for distinct users and licences.
    this.addSubject = db.prepare<[string, number, string, number, Buffer | string]>(
      'INSERT OR IGNORE INTO group_subjects (group_id, day, version, kind, subject) VALUES (?, ?, ?, ?, ?)',
    );
    this.keepRemoved = removedOccurrenceKeeper(db);
    this.addSubjectDay = db.prepare<[number]>(
      'INSERT OR IGNORE INTO subject_row_days (day) VALUES (?)',
    );
    this.lookUp = db.transaction((items: PreparedReport[]) => {
      this.ids.refresh();
      const days = this.lookupDays(items);
      return items.map((r) => this.existing(r, days));
    });
    this.batch = db.transaction((items: PreparedReport[], syncs: boolean, check: KeyCheck) => {
      this.ids.refresh();
      const lookupDays = this.lookupDays(items);
      const sums = new CountSums();
      const keys = this.keysDir === undefined ? undefined : new BatchKeys(db, this.keysDir, check);
      const results: StoredResult[] = [];
      for (const r of items) {
        const stored = this.writeOne(r, lookupDays, sums, keys);
        if (stored) results.push(stored);
      }
      // One upsert per distinct (group, hour or day, version or line) of the batch, not per report.
      for (const [g, hour, version, n] of sums.hours.values())
        this.addHour.run(g, hour, version, n);
      for (const [g, day, version, n] of sums.days.values()) this.addDay.run(g, day, version, n);
      for (const [g, hour, line, n] of sums.lines.values()) this.addLine.run(g, hour, line, n);
      for (const day of sums.subjectDays) this.addSubjectDay.run(day);
      // The records written before the commit that makes their rows point at them (and with a
      // commit that syncs, synced before it too).
      this.sealed.flush(syncs);
      return results;
    });
  }

  /**
   * Builds the id filter now rather than in the first batch's transaction (a scan of the stored
   * ids: a tenth of a second at 50,000, seconds at millions), so the first reports after a start
   * are not held up by it.
   */
  warmUp(): void {
    this.ids.refresh();
  }

  /**
   * Stores a batch atomically: all of it is committed or none of it; throws the storage's error
   * when none of it is. The batch is durable when this returns (its records synced, then its
   * commit with synchronous=FULL) unless `fsync` is false: then the caller makes it durable
   * with durable() before saying so.
   *
   * @example
   * writer.write([prepared]); // [{ id, group: '3fa9c1d2e4b7', created: true }]
   * writer.write([prepared], false);
   * await writer.durable(wal);
   *
   * With a keys folder given, each report's day key is checked under the write lock
   * (store/batch-keys.ts): `refuse` (fresh reports) fails the batch with a DayKeyGoneError (503)
   * where the key the report was sealed under is gone, `sort` (the inbox's reports) leaves out the
   * reports due by the run that shredded it; the results then hold only the reports written.
   */
  write(items: PreparedReport[], fsync = true, keys: KeyCheck = 'refuse'): StoredResult[] {
    this.dbFile.check();
    // IMMEDIATE: the batch reads before it writes, and another connection may write in between.
    const batch = () => this.batch.immediate(items, fsync, keys);
    try {
      const results = fsync ? batch() : withoutCommitSync(this.db, batch);
      this.sealed.commit();
      return results;
    } catch (e) {
      this.sealed.rollback();
      throw e;
    }
  }

  /**
   * Resolves once every batch written so far (with `write(items, false)`; call right after it)
   * is on disk: the WAL, shared with every commit before (store/wal-sync.ts), and the batches'
   * records, synced at the same time (store/sealed-files.ts says why that is safe).
   */
  durable(wal: WalSync): Promise<void> {
    return Promise.all([wal.sync(), this.sealed.sync()]).then(() => undefined);
  }

  /**
   * What is stored under each report's id already (undefined: nothing), without writing: the
   * answers for a batch that goes to the inbox (store/inbox-writer.ts) rather than here.
   *
   * @example
   * writer.stored([prepared]); // [{ id, group: '3fa9c1d2e4b7', created: false }] or [undefined]
   */
  stored(items: PreparedReport[]): (StoredResult | undefined)[] {
    return this.lookUp.deferred(items);
  }

  /** Lets go of the day files (the connection is closing). */
  close(): void {
    this.sealed.close();
  }

  /**
   * Every day a stored report (or one of the batch) can be under: the id look-up's range. Only
   * worked out when a look-up is needed, which the id filter makes rare.
   */
  private lookupDays(items: PreparedReport[]): () => string[] {
    let days: string[] | undefined;
    return () => {
      if (days) return days;
      days = storedDays(this.db, items[items.length - 1].receivedAt);
      if (!days.includes(items[0].keyDay)) days.push(items[0].keyDay);
      return days;
    };
  }

  private existing(r: PreparedReport, days: () => string[]): StoredResult | undefined {
    // Most ids are new: the filter spares them the look-up under every stored day.
    const found = this.ids.mightHave(r.id) ? this.findReport.get(days(), r.id) : undefined;
    return found ? { id: r.id, group: found.group_id ?? r.groupId, created: false } : undefined;
  }

  private writeOne(
    r: PreparedReport,
    days: () => string[],
    sums: CountSums,
    keys: BatchKeys | undefined,
  ): StoredResult | undefined {
    const existing = this.existing(r, days);
    if (existing) return existing;
    if (keys && !keys.admits(r)) {
      // An inbox report due by the run that shredded its key (`sort`): not stored, but counted
      // as the reports that run deleted stay counted (nothing personal), its occurrences kept
      // where a window's partial edge hours look for a removed report's (store/occurrences.ts).
      this.countOccurrence(r, sums);
      this.keepRemoved({ ...r, n: 1 + (r.repeats ?? 0) });
      return undefined;
    }
    const record = encodeRecord(r.id, r);
    const seq = Number(
      this.insertReport.run(
        r.id,
        r.groupId,
        r.receivedAt,
        r.keyDay,
        r.occurredAt,
        r.version,
        r.license,
        r.line,
        r.repeats,
        r.dumpWithheld,
        r.userHash,
        this.sealed.add(r.keyDay, record),
        record.length,
      ).lastInsertRowid,
    );
    this.keys.add(seq, r);
    this.ids.add(r.id, seq);
    const day = this.countOccurrence(r, sums);
    if (r.userHash) this.addSubject.run(r.groupId, day, r.version, 0, r.userHash);
    this.addSubject.run(r.groupId, day, r.version, 1, r.license);
    sums.subjectDays.add(day);
    return { id: r.id, group: r.groupId, created: true };
  }

  /**
   * The report's occurrences (1 + repeats) in its group's counts, its group made or updated
   * (seen times, regression). Answers its UTC day.
   */
  private countOccurrence(r: PreparedReport, sums: CountSums): number {
    const group = this.findGroup.get(r.groupId);
    if (!group) {
      this.insertGroup.run(r);
    } else {
      const regresses =
        group.status === 'resolved' &&
        (group.resolved_in_version === null ||
          compareVersions(r.version, group.resolved_in_version) >= 0);
      this.updateGroup.run({ at: r.receivedAt, regress: regresses ? 1 : 0, id: r.groupId });
    }
    const count = 1 + (r.repeats ?? 0);
    const hour = hourOf(r.receivedAt);
    const day = dayOf(r.receivedAt);
    sums.add(sums.hours, r.groupId, hour, r.version, count);
    sums.add(sums.days, r.groupId, day, r.version, count);
    sums.add(sums.lines, r.groupId, hour, r.line, count);
    return day;
  }
}

/** A batch's occurrence counts, summed per aggregate row before they are written. */
class CountSums {
  readonly hours = new Map<string, [string, number, string, number]>();
  readonly days = new Map<string, [string, number, string, number]>();
  readonly lines = new Map<string, [string, number, number, number]>();
  /** the days of the batch's subject rows (every stored report brings a licence at least) */
  readonly subjectDays = new Set<number>();

  add<K extends string | number>(
    into: Map<string, [string, number, K, number]>,
    group: string,
    unit: number,
    key: K,
    n: number,
  ): void {
    const id = `${group}\0${unit}\0${key}`;
    const row = into.get(id);
    if (row) row[3] += n;
    else into.set(id, [group, unit, key, n]);
  }
}
