import type { IngestWriter, PreparedReport, StoredResult } from './ingest-writer';
import { unpackBatch, type WireBatch } from './batch-wire';
import type { Inbox } from './inbox';
import type { WalSync } from './wal-sync';
import { MAX_UNSYNCED_RECORDS } from './sealed-files';
import { KeysFolderWatch } from '../crypto/keyring';

/** How long after a run the inbox is emptied and its WAL made ready for the next. */
const CLEAN_UP_AFTER_MS = 10_000;

/**
 * Ingest's writes while the expiry job deletes (retention/expire.ts turns it on and off), on the
 * writer thread.
 *
 * Why: the job's deletions take the main database's single write lock in chunks of about 20 ms,
 * back to back. Ingest writing there waited for the chunk, and its fsync then carried the chunk's
 * pages too: a request's time went from a few milliseconds to tens. Measured on a million expired
 * reports under ingest at 200/s, request times through the deletions were a median of 19-23 ms
 * (at most 51-76 ms a second) as ingest waited, and 1.6-3.8 ms (16-22 ms) with an inbox.
 *
 * While on, each batch is committed to the inbox (store/inbox.ts), a small database the job never
 * writes, and answered from it: what is stored under each id already, in the database or the
 * inbox, so a retry is answered 200 with its group as ever. Between two chunks of the job the
 * batches are folded into the database (`fold`) by the ingest writer, as if they had just
 * arrived; reads wait for that (Collector.settled), so what was answered is what they see. When
 * the job is done, `stop` folds the rest and waits until the database has it on disk; the inbox
 * is emptied a few seconds later. A process that stopped in between folds what the inbox holds
 * at its next start (`recover`): folding twice stores nothing twice, as a retry does not.
 *
 * @example
 * inbox.start();
 * const { results, seq } = inbox.write(wire); // committed to the inbox
 * await inbox.durable();                      // answer 202
 * inbox.fold();                               // between two chunks
 * await inbox.stop();
 */
export class InboxWriter {
  private on = false;
  /** batches in the inbox not yet in the database, oldest first */
  private unfolded: { seq: number; items: PreparedReport[] }[] = [];
  /** the ids of those, with their group: a retry while they wait is answered from here */
  private readonly pending = new Map<string, string>();
  /** syncs of the database after folds, not yet done */
  private readonly syncs = new Set<Promise<void>>();
  /** a sync after a fold failed: what it folded is not known to be on disk, so the inbox stays */
  private syncError: unknown;
  private foldedUpTo = 0;
  /** the newest batch to delete at the next cleanUp (0: none) */
  private removable = 0;
  private cleaning: NodeJS.Timeout | undefined;

  /** folded reports whose sync has not completed yet */
  private unsynced = 0;

  private readonly keysFolder: KeysFolderWatch;

  /** @param keysDir the keys folder: reports whose day key is gone are not folded (`fold`) */
  constructor(
    private readonly writer: IngestWriter,
    private readonly inbox: Inbox,
    private readonly wal: WalSync,
    private readonly keysDir: string,
  ) {
    this.keysFolder = new KeysFolderWatch(keysDir);
  }

  /** Whether batches go to the inbox. */
  get active(): boolean {
    return this.on;
  }

  /**
   * At start, before any batch: folds in what a process that stopped during a run left in the
   * inbox, on disk before returning, then empties the inbox. Returns how many of them are in the
   * database (not those left out as due; those folded before, again).
   */
  recover(): number {
    const left = this.inbox.batches();
    if (left.length === 0) return 0;
    this.checkKeysFolder();
    const items = left.flatMap((b) => unpackBatch(b.batch));
    const written = items.length > 0 ? this.writer.write(items, true, 'sort').length : 0;
    this.inbox.removeUpTo(left[left.length - 1].seq);
    return written;
  }

  /**
   * Nothing is folded while the keys folder or its days/ is gone from under us: that is no key
   * shredded but the storage failing, and the reports, answered 202, wait in the inbox until it
   * is back. (The fold's transaction leaves out those whose key was shredded while they waited,
   * due: store/batch-keys.ts `sort`.)
   */
  private checkKeysFolder(): void {
    const gone = this.keysFolder.missing();
    if (gone) throw gone;
  }

  start(): void {
    this.on = true;
  }

  /** Commits a batch to the inbox (durable with `durable()`), with each report's answer. */
  write(batch: WireBatch): { results: StoredResult[]; seq: number } {
    const items = unpackBatch(batch);
    const stored = this.writer.stored(items);
    const added = new Map<string, string>();
    const results = items.map((r, i): StoredResult => {
      const group = added.get(r.id) ?? this.pending.get(r.id);
      const before = stored[i] ?? (group ? { id: r.id, group, created: false } : undefined);
      if (before) return before;
      added.set(r.id, r.groupId);
      return { id: r.id, group: r.groupId, created: true };
    });
    const seq = this.inbox.add(batch);
    for (const [id, group] of added) this.pending.set(id, group);
    this.unfolded.push({ seq, items });
    return { results, seq };
  }

  /** Resolves once every batch written to the inbox so far is on disk. */
  durable(): Promise<void> {
    return this.inbox.sync();
  }

  /** Whether batches wait in the inbox (after a `stop` that failed, say). */
  get waiting(): boolean {
    return this.unfolded.length > 0;
  }

  /**
   * Writes every batch waiting in the inbox to the database, in one transaction; the sync of the
   * database starts at once and `stop` waits for it. Returns the newest batch folded (0: none
   * ever). Throws the storage's error with nothing folded.
   */
  fold(): number {
    const done = this.unfolded;
    if (done.length === 0) return this.foldedUpTo;
    this.checkKeysFolder();
    const items = done.flatMap((b) => b.items);
    // As ingest's batcher does, never more than MAX_UNSYNCED_RECORDS/2 reports whose records may
    // not be on disk: the start-up check after a power cut reads only the newest
    // (store/sealed-repair.ts). Past that, this fold syncs before it commits.
    const syncNow = this.unsynced + items.length > MAX_UNSYNCED_RECORDS / 2;
    const n = items.length > 0 ? this.writer.write(items, syncNow, 'sort').length : 0;
    this.unfolded = [];
    for (const b of done) for (const r of b.items) this.pending.delete(r.id);
    this.foldedUpTo = done[done.length - 1].seq;
    if (syncNow || n === 0) return this.foldedUpTo;
    this.unsynced += n;
    const sync = this.writer.durable(this.wal);
    this.syncs.add(sync);
    sync.then(
      () => {
        this.unsynced -= n;
        this.syncs.delete(sync);
      },
      (e: unknown) => {
        this.unsynced -= n;
        this.syncs.delete(sync);
        this.syncError ??= e;
      },
    );
    return this.foldedUpTo;
  }

  /**
   * Back to the database for the batches that follow: folds the rest and waits until the
   * database has all of it on disk. Returns the newest batch folded. If this fails, the batches
   * still waiting are folded before the next batch is written.
   *
   * The inbox is emptied a little later (`cleanUp`): emptying it checkpoints and truncates its
   * WAL, with syncs, on this thread, and at the end of a run that held up the reports arriving
   * behind it by tens of milliseconds. Until then a restart would fold its batches again, which
   * stores nothing twice.
   */
  async stop(): Promise<number> {
    if (!this.on && this.unfolded.length === 0 && this.syncError === undefined) {
      return this.foldedUpTo;
    }
    this.on = false;
    const upTo = this.fold();
    await Promise.allSettled([...this.syncs]);
    const failed = this.syncError;
    this.syncError = undefined;
    // A sync that failed leaves what it covered unknown: the inbox keeps every batch (folded
    // again at the next start, which stores nothing twice), and this run says it failed. The
    // next run starts afresh.
    if (failed !== undefined) throw failed;
    await this.writer.durable(this.wal);
    this.removable = upTo;
    clearTimeout(this.cleaning);
    this.cleaning = setTimeout(() => this.cleanUpLater(), CLEAN_UP_AFTER_MS);
    this.cleaning.unref();
    return upTo;
  }

  /** Stops the clean-up timer (the inbox is closing; what it holds is folded at the next start). */
  close(): void {
    clearTimeout(this.cleaning);
    this.cleaning = undefined;
  }

  /**
   * Deletes the batches folded by the last `stop` (a run started since keeps its own) and, with
   * the inbox idle, writes its WAL ahead for the next run (store/inbox.ts). Also on close.
   */
  cleanUp(): void {
    clearTimeout(this.cleaning);
    this.cleaning = undefined;
    if (this.removable === 0) return;
    this.inbox.removeUpTo(this.removable);
    this.removable = 0;
    if (!this.on) this.inbox.zeroFillWal('later');
  }

  /**
   * cleanUp() on its timer. Only housekeeping: a failure (a full disk: the deletion and the WAL's
   * truncation both write) must not end the thread, and with it every report's ingest. The
   * batches stay, folded already, and it is tried again later (folding them twice at a start
   * stores nothing twice).
   */
  private cleanUpLater(): void {
    try {
      this.cleanUp();
    } catch {
      clearTimeout(this.cleaning);
      this.cleaning = setTimeout(() => this.cleanUpLater(), CLEAN_UP_AFTER_MS);
      this.cleaning.unref();
    }
  }
}
