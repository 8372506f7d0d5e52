import type { Db } from './db';
import { DbFileWatch } from './db-file-watch';
import { getMeta, setMeta } from './db';
import { iso, systemClock, type Clock } from '../time';
import { entryHash, verifyChain, type ChainEntry, type Verification } from './audit-chain';
import {
  markFiles,
  ORIGIN,
  parseMark,
  readMark,
  writeMark,
  writeMarkInBackground,
  dropMarkWritesInFlight,
  sweepStaleMarkTemps,
  type ChainMark,
} from './audit-marks';

export { entryHash, type Verification } from './audit-chain';
export type { ChainMark } from './audit-marks';

export interface AuditInput {
  actor: string;
  action: string;
  target: string | null;
  outcome: string;
}

export type AuditRow = ChainEntry;

/** Access-log entries hold no personal data and are kept this long, then pruned. */
const AUDIT_RETENTION_MONTHS = 13;

/**
 * The moment before which access-log entries are pruned: `months` calendar months before `now`.
 *
 * @example
 * c.audit.prune(auditCutoff(c.clock())); // what the expiry job does
 */
export function auditCutoff(now: number, months = AUDIT_RETENTION_MONTHS): number {
  const d = new Date(now);
  d.setUTCMonth(d.getUTCMonth() - months);
  return d.getTime();
}

export interface AuditLogOptions {
  /** the keys folder, where the head and anchor marks live */
  keysDir: string;
  /** for the default pruning cut-off */
  clock?: Clock;
  /** a head mark that could not be written (the entry itself is committed) */
  onError?: (err: Error) => void;
}

export interface PruneResult {
  /** entries removed */
  pruned: number;
  /** the last pruned entry, which the chain now starts from */
  anchor: ChainMark | null;
  /** set when the log is broken: nothing from this entry on is pruned, so the evidence stays */
  brokenAt?: number;
}

const DB_ANCHOR_KEY = 'audit_anchor';

/**
 * Checks the access log's chain in `db` against the marks in the keys folder (`AuditLog.verify`
 * says what it finds); a plain function of a connection, so that the API can run it on a thread
 * of its own (store/audit-verify-thread.ts).
 *
 * @example
 * verifyLog(db, auditKey, markFiles(keysDir)); // { ok: true, entries: 120 }
 */
export function verifyLog(
  db: Db,
  key: Uint8Array,
  files: { head: string; anchor: string },
  upTo = Number.MAX_SAFE_INTEGER,
): Verification {
  // The head first: it is written after each commit, so read in this order it can lag the
  // table but never run ahead of it unless entries were removed.
  const newest = readMark(files.head);
  // Checking the entries up to `upTo` only (pruning's own check), the head is past them.
  const head = newest && newest.seq <= upTo ? newest : null;
  const fileAnchor = readMark(files.anchor);
  const dbAnchor = parseMark(getMeta(db, DB_ANCHOR_KEY));
  const rows = db
    .prepare<[number], AuditRow>(
      'SELECT seq, at, actor, action, target, outcome, hash FROM audit WHERE seq <= ? ORDER BY seq',
    )
    .iterate(upTo);
  try {
    return verifyChain(key, rows, { head, fileAnchor, dbAnchor });
  } finally {
    // An iterator left open keeps the connection busy: close it however the walk ended.
    rows.return?.();
  }
}

const PRUNING_KEY = 'audit_pruning';

/**
 * The newest entries first, from `since` on (ms). A plain function over a connection, so that the
 * read thread (store/triage.ts) reads the log as the event loop does: when fewer than `limit`
 * entries are that recent, the query walks the whole table (some 70 ms at a million entries).
 *
 * @example
 * listEntries(db, { since: Date.now() - 7 * 86_400_000, limit: 100 }); // [{ seq: 1520, ... }, ...]
 */
export function listEntries(
  db: Db,
  options: { since?: number; until?: number; before?: number; limit: number },
): AuditRow[] {
  // `until` is included; `before` (a sequence number) is not, so that paging back by the last
  // page's oldest seq skips none and repeats none.
  return db
    .prepare<[string, string, number, number], AuditRow>(
      `SELECT seq, at, actor, action, target, outcome, hash FROM audit
       WHERE at >= ? AND at <= ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
    )
    .all(
      iso(options.since ?? 0),
      iso(Math.min(options.until ?? MAX_TIME, MAX_TIME)),
      options.before ?? Number.MAX_SAFE_INTEGER,
      options.limit,
    );
}

/** 9999-12-31T23:59:59.999Z: after every entry's time. */
const MAX_TIME = 253402300799999;

/**
 * The access log: append-only (triggers refuse UPDATE and DELETE) and chained, each entry's hash
 * an HMAC over its content and the previous entry's hash, so any change to an entry breaks the
 * chain from there on. After each commit the newest (seq, hash) goes to the keys folder, so a
 * cut-off tail shows too: in the background, so the two syncs it takes are on no request's path
 * (the entry itself is committed, and synced, before the request is answered). It never holds
 * personal data: actors are token names, targets are ids.
 *
 * @example
 * c.audit.append({ actor: 'alice', action: 'groups.list', target: null, outcome: 'ok' }, now);
 * c.audit.verify(); // { ok: true, entries: 1 }
 */
export class AuditLog {
  private readonly last;
  private readonly insertRow;
  private readonly files: { head: string; anchor: string };
  private readonly clock: Clock;
  /** a background head write is due at the next turn of the event loop */
  private headPending = false;
  /** the background head write under way, if any */
  private headWriting: Promise<void> | null = null;
  /** entries were committed while it was under way: write again when it is done */
  private headAgain = false;
  /**
   * The newest entry committed without its fsync, and the newest known to be on disk: a head
   * mark synced ahead of its entries would read, after a power cut, as a tail cut off the log.
   */
  private readonly dbFile: DbFileWatch;
  private lastUnsynced = 0;
  private durableThrough = 0;

  constructor(
    private readonly db: Db,
    private readonly key: Uint8Array,
    private readonly options: AuditLogOptions,
  ) {
    this.last = db.prepare<[], ChainMark>('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1');
    this.insertRow = db.prepare(
      'INSERT INTO audit (seq, at, actor, action, target, outcome, hash) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.files = markFiles(options.keysDir);
    sweepStaleMarkTemps(options.keysDir);
    this.clock = options.clock ?? systemClock;
    this.dbFile = new DbFileWatch(db.name);
  }

  /**
   * Appends one entry, for a transaction committed with synchronous=FULL. Call inside the
   * transaction of the access it records.
   */
  append(entry: AuditInput, now: number): AuditRow {
    const row = this.insert(entry, now);
    this.scheduleHead();
    return row;
  }

  /**
   * Appends one entry without marking the head: for a transaction committed without its fsync,
   * whose caller says `unsynced(seq)` once it is committed and `synced(seq)` once it is on disk
   * (store/audit-batch.ts).
   */
  insert(entry: AuditInput, now: number): AuditRow {
    // Every engineer's or admin's request, and every change they make, writes an entry: with
    // collector.db removed under the collector they would all go into the lost file, answered.
    this.dbFile.check();
    const prev = this.tip();
    const seq = prev.seq + 1;
    const at = iso(now);
    const hash = entryHash(this.key, prev.hash, { seq, at, ...entry });
    this.insertRow.run(seq, at, entry.actor, entry.action, entry.target, entry.outcome, hash);
    return { seq, at, ...entry, hash };
  }

  /** Entries up to `seq` are committed but not yet on disk: the head mark must not name them. */
  unsynced(seq: number): void {
    this.lastUnsynced = Math.max(this.lastUnsynced, seq);
  }

  /** Entries up to `seq` are on disk: the head mark may name them. */
  synced(seq: number): void {
    this.durableThrough = Math.max(this.durableThrough, seq);
    this.scheduleHead();
  }

  /** Newest first. */
  list(options: { since?: number; until?: number; before?: number; limit: number }): AuditRow[] {
    return listEntries(this.db, options);
  }

  /**
   * The cheap half of verify, for `serve` as it starts: whether the newest entry the keys folder's
   * head mark names is still in the table as it was. The mark is written only once its entry is
   * on disk, so after any crash or power cut the table reaches at least as far; a table that
   * stops short of it, or holds another entry there, lost its newest entries (a write-ahead log
   * deleted, a database put back from an older copy) or had them changed. Said at start because
   * the next entries written move the mark past the evidence. `missing`: there are entries but
   * no readable mark, so a cut-off tail could not show.
   *
   * @example
   * c.audit.checkTail(); // { state: 'ok' }, or { state: 'broken', brokenAt: 1043 }
   */
  checkTail(): { state: 'ok' | 'missing' } | { state: 'broken'; brokenAt: number } {
    let head: ChainMark | null;
    try {
      head = readMark(this.files.head);
    } catch {
      head = null;
    }
    const last = this.last.get();
    if (!head) return { state: last ? 'missing' : 'ok' };
    // Pruned since (a log that had no entries for 13 months): nothing to compare.
    if (head.seq <= (parseMark(getMeta(this.db, DB_ANCHOR_KEY)) ?? ORIGIN).seq)
      return { state: 'ok' };
    const at = this.db
      .prepare<[number], { hash: string }>('SELECT hash FROM audit WHERE seq = ?')
      .get(head.seq);
    if (at?.hash === head.hash) return { state: 'ok' };
    return { state: 'broken', brokenAt: at ? head.seq : (last?.seq ?? 0) + 1 };
  }

  /**
   * Checks the whole chain against the marks in the keys folder: `{ ok: false, brokenAt }` names
   * the first entry changed, removed or moved, or the first of a cut-off tail. With `upTo`, only
   * the entries up to it (what a pruning would remove).
   */
  verify(upTo = Number.MAX_SAFE_INTEGER): Verification {
    return verifyLog(this.db, this.key, this.files, upTo);
  }

  /**
   * Removes the entries written before `before` (default: 13 months ago) and records the last one
   * removed as the chain's anchor, in the database and in the keys folder, so what remains still
   * verifies. Entries from the first broken one on are kept, so pruning never hides tampering.
   *
   * @example
   * c.audit.prune(auditCutoff(c.clock())); // { pruned: 1200, anchor: { seq: 1200, hash: '...' } }
   */
  prune(before: number = auditCutoff(this.clock())): PruneResult {
    const due = this.dueUpTo(before);
    // Nothing old enough (every night of the first 13 months): nothing to check either.
    if (due === null) return { pruned: 0, anchor: parseMark(getMeta(this.db, DB_ANCHOR_KEY)) };
    // Only the entries to be removed are checked, not the whole log: the walk runs on the event
    // loop during the nightly expiry run, and the whole of 13 months took seconds. Outside the
    // write transaction: a long walk must not hold the database's single writer.
    const check = this.verify(due);
    const limit = check.ok ? Number.MAX_SAFE_INTEGER : check.brokenAt - 1;
    return this.db
      .transaction((): PruneResult => {
        // Only what was checked, however many entries came since.
        const upTo = Math.min(limit, due);
        const anchor = this.db
          .prepare<[number], ChainMark>(
            'SELECT seq, hash FROM audit WHERE seq <= ? ORDER BY seq DESC LIMIT 1',
          )
          .get(upTo);
        const result: PruneResult = check.ok
          ? { pruned: 0, anchor: null }
          : { pruned: 0, anchor: null, brokenAt: check.brokenAt };
        if (!anchor) return { ...result, anchor: parseMark(getMeta(this.db, DB_ANCHOR_KEY)) };
        setMeta(this.db, PRUNING_KEY, '1');
        const pruned = this.db.prepare('DELETE FROM audit WHERE seq <= ?').run(anchor.seq).changes;
        setMeta(this.db, PRUNING_KEY, '0');
        setMeta(this.db, DB_ANCHOR_KEY, JSON.stringify(anchor));
        // Before the commit: should the commit then fail, the keys folder is ahead of the
        // database, which verify reads as an interrupted pruning; the other way round would read
        // as entries deleted behind the log's back.
        writeMark(this.files.anchor, anchor);
        return { ...result, pruned, anchor };
      })
      .immediate();
  }

  /**
   * Writes the newest committed entry's mark to the head file now, synchronously (on close, for
   * instance). A background write still under way then finds the file ahead of its own mark and
   * leaves it.
   */
  flushHead(): void {
    if (!this.db.open) return;
    if (this.db.inTransaction) {
      // Only committed entries may be marked; try again once this transaction is over.
      setImmediate(() => this.flushHead());
      return;
    }
    try {
      const last = this.headDue();
      if (last) writeMark(this.files.head, last);
      // Written whole just now: a background write still under way would leave its temporary
      // file behind if the process exits first.
      dropMarkWritesInFlight(this.files.head);
    } catch (e) {
      this.options.onError?.(e as Error);
    }
  }

  /**
   * Resolves once the head file holds every entry committed before the call (background writes
   * done): for tests, and for a caller that wants the keys folder current before it goes on.
   */
  async headWritten(): Promise<void> {
    while (this.headPending || this.headWriting) {
      await (this.headWriting ?? new Promise<void>((resolve) => setImmediate(resolve)));
    }
  }

  /** The newest entry written before `before`, or null when there is none. */
  private dueUpTo(before: number): number | null {
    const firstKept = this.db
      .prepare<[string], number | null>('SELECT MIN(seq) FROM audit WHERE at >= ?')
      .pluck()
      .get(iso(before));
    const oldest = this.db.prepare<[], number | null>('SELECT MIN(seq) FROM audit').pluck().get();
    if (oldest === null || oldest === undefined) return null;
    const last =
      firstKept === null || firstKept === undefined
        ? this.db.prepare<[], number>('SELECT MAX(seq) FROM audit').pluck().get()!
        : firstKept - 1;
    return last >= oldest ? last : null;
  }

  /**
   * The entry the next one chains from. After a cut tail the head file is ahead of the table:
   * the next entry follows the head, so the gap stays visible to every later verify.
   */
  private tip(): ChainMark {
    let tip = this.last.get() ?? parseMark(getMeta(this.db, DB_ANCHOR_KEY)) ?? ORIGIN;
    const head = readMark(this.files.head);
    if (head && head.seq > tip.seq) tip = head;
    return tip;
  }

  /**
   * The newest committed entry, when the head file is behind it. Never moves the head back: a
   * table shorter than the head is the evidence of a cut tail.
   */
  private headDue(): ChainMark | null {
    const last = this.last.get();
    if (!last) return null;
    // An entry committed with FULL after the unsynced ones synced them too (one WAL).
    if (this.lastUnsynced > this.durableThrough && last.seq <= this.lastUnsynced) return null;
    const head = readMark(this.files.head);
    return head && head.seq >= last.seq ? null : last;
  }

  /**
   * The head is written once per turn of the event loop at most, after the transaction has
   * committed and the answer has gone out, and one write at a time: entries committed while a
   * write is under way are covered by the next.
   */
  private scheduleHead(): void {
    if (this.headPending) return;
    this.headPending = true;
    setImmediate(() => {
      this.headPending = false;
      this.writeHeadInBackground();
    });
  }

  private writeHeadInBackground(): void {
    if (this.headWriting) {
      this.headAgain = true;
      return;
    }
    if (!this.db.open) return;
    if (this.db.inTransaction) {
      this.scheduleHead();
      return;
    }
    let mark: ChainMark | null;
    try {
      mark = this.headDue();
    } catch (e) {
      this.options.onError?.(e as Error);
      return;
    }
    if (!mark) return;
    const due = mark;
    this.headWriting = writeMarkInBackground(
      this.files.head,
      due,
      // Checked just before the rename: closed (close wrote the head itself) or overtaken.
      () => this.db.open && (readMark(this.files.head)?.seq ?? 0) < due.seq,
    )
      .then(
        () => undefined,
        (e: Error) => {
          // After close the keys folder may be gone (a removed temp dir): nothing to report.
          if (this.db.open) this.options.onError?.(e);
        },
      )
      .finally(() => {
        this.headWriting = null;
        if (this.headAgain) {
          this.headAgain = false;
          this.writeHeadInBackground();
        }
      });
  }
}
