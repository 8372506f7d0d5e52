import type { Db } from './db';
import { BUSY_TIMEOUT_MS, withoutCommitSync, withoutWaiting } from './db';
import { isBusy } from '../ingest/unavailable';
import type { AuditInput, AuditLog } from './audit';
import type { WalSync } from './wal-sync';
import type { Clock } from '../time';

interface Waiting {
  entry: AuditInput;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/**
 * Group commit for access-log entries that go in a transaction of their own: a read's entry and
 * a refusal's. The entries asked for in one turn of the event loop are committed together, and
 * each caller learns once that commit is on disk: committed without an fsync of its own
 * (synchronous=NORMAL), then made durable by a sync of the WAL off the event loop
 * (store/wal-sync.ts), the same durability as a commit with synchronous=FULL.
 *
 * Why: each entry in a commit of its own held the event loop for its fsync, so every engineer's
 * read, and every request still made with a revoked token, stopped ingest for milliseconds. A
 * flood of 750 requests a second with a revoked token took ingest's p99 at 1,000 reports/s from
 * 14-18 ms to 335-384 ms. Each request still gets its own entry, written before it is answered.
 *
 * @example
 * const entries = new AuditBatcher(db, audit, wal, clock);
 * await entries.append({ actor: 'alice', action: 'groups.list', target: null, outcome: 'ok' });
 */
export class AuditBatcher {
  private waiting: Waiting[] = [];
  private scheduled = false;

  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly wal: WalSync,
    private readonly clock: Clock,
  ) {}

  /** Resolves once the entry is committed and on disk; rejects when it could not be written. */
  append(entry: AuditInput): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ entry, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => this.flush());
    });
  }

  /**
   * Runs a change and appends the entry it returns, in one transaction of their own, at once (not
   * batched: the entry records the change's outcome); resolves once both are on disk. Rejects,
   * with nothing of either committed, when the transaction fails.
   *
   * @example
   * await entries.commitWith(() => { setStatus(); return { actor, action, target, outcome: 'ok' }; });
   */
  commitWith(change: () => AuditInput): Promise<void> {
    return this.durably(() => this.audit.insert(change(), this.clock()).seq);
  }

  /**
   * Commits what is waiting now, with the commit's own fsync (synchronous=FULL), before the
   * database closes: nothing asked for is left behind.
   */
  close(): void {
    const batch = this.take();
    if (batch.length === 0 || !this.db.open) return;
    try {
      this.audit.synced(this.db.transaction(() => this.insertAll(batch)).immediate());
    } catch (e) {
      return batch.forEach((w) => w.reject(e));
    }
    batch.forEach((w) => w.resolve());
  }

  private take(): Waiting[] {
    this.scheduled = false;
    return this.waiting.splice(0);
  }

  private flush(): void {
    const batch = this.take();
    if (batch.length === 0) return;
    this.durably(() => this.insertAll(batch)).then(
      () => batch.forEach((w) => w.resolve()),
      (e: unknown) => batch.forEach((w) => w.reject(e)),
    );
  }

  /** The batch's entries, at one time; the newest one's seq. */
  private insertAll(batch: Waiting[]): number {
    const now = this.clock();
    let seq = 0;
    for (const w of batch) seq = this.audit.insert(w.entry, now).seq;
    return seq;
  }

  /**
   * Runs `write` (inserting entries, returning the newest one's seq) in a transaction committed
   * without its fsync, then syncs the WAL off the event loop; the head mark waits for that sync.
   */
  private async durably(write: () => number): Promise<void> {
    const seq = await this.whenUnlocked(() =>
      withoutCommitSync(this.db, () => this.db.transaction(write).immediate()),
    );
    this.audit.unsynced(seq);
    await this.wal.sync();
    this.audit.synced(seq);
  }

  /**
   * Runs `commit` once the write lock is free, waiting for it off the event loop: SQLite's own wait
   * (busy_timeout) would hold the event loop, and every report with it, for up to 2 s an entry
   * while another process held the database (an operator's sqlite3, a long `expire`). Gives up
   * with SQLITE_BUSY (a 503) after the same 2 s. `commit` never runs its writes on a failed try:
   * the lock is taken at BEGIN IMMEDIATE, before them.
   */
  private async whenUnlocked<T>(commit: () => T): Promise<T> {
    const deadline = Date.now() + BUSY_TIMEOUT_MS;
    for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
      try {
        return withoutWaiting(this.db, commit);
      } catch (e) {
        if (!isBusy(e) || Date.now() >= deadline) throw e;
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}
