import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { withoutCommitSync } from './db';
import type { WireBatch } from './batch-wire';
import { WalSync } from './wal-sync';
import { writeZeros } from '../crypto/files';

/** The inbox's file: beside the database, in the data dir. */
export function inboxFile(dbFile: string): string {
  return path.join(path.dirname(dbFile), 'inbox.db');
}

/**
 * How much of the WAL is written ahead with zeros: the reports of a run at a few hundred a
 * second (about a page each). Past it the WAL grows as any file does.
 */
const WAL_ZEROED_BYTES = 16 << 20;
/** Pages of WAL after which a commit checkpoints the inbox itself: 64 MiB, a run at thousands a second. */
const WAL_CHECKPOINT_PAGES = 16_384;

/** A batch as the inbox keeps it, in the order it was stored. */
export interface InboxBatch {
  seq: number;
  batch: WireBatch;
}

/**
 * A small database of its own where ingest commits reports while the expiry job holds the main
 * database's write lock (store/inbox-writer.ts says when and why). It keeps each batch as it
 * crossed to the writer thread (store/batch-wire.ts): the reports already sealed, so it holds no
 * more plaintext than the main database does, and nothing of it outlives the run that used it.
 *
 * WAL with synchronous=FULL, like the main database; commits skip their fsync and are made durable
 * by `sync()`, shared by every commit before it (store/wal-sync.ts). secure_delete, and a
 * truncating checkpoint when emptied, so the batches leave no bytes behind in its files.
 *
 * @example
 * const inbox = new Inbox(inboxFile(dbFile));
 * const seq = inbox.add(wire);
 * await inbox.sync(); // durable: answer 202
 */
export class Inbox {
  private readonly db: Database.Database;
  private readonly wal: WalSync;
  private readonly insert;
  private readonly all;
  private readonly remove;
  private readonly any;

  constructor(readonly file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('secure_delete = ON');
    this.db.pragma('busy_timeout = 2000');
    // No checkpoint inside a commit during a run: it copies and syncs on the writer thread, and
    // the reports behind it waited (48 ms once). A run's reports fit in the WAL; it is emptied
    // when the run is over.
    this.db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
    this.db.exec(
      // AUTOINCREMENT: a batch's seq is never used again once the inbox is emptied, so "folded
      // up to" stays meaningful from one run to the next.
      'CREATE TABLE IF NOT EXISTS batches (seq INTEGER PRIMARY KEY AUTOINCREMENT, meta TEXT NOT NULL, bytes BLOB NOT NULL)',
    );
    this.insert = this.db.prepare<[string, Buffer]>(
      'INSERT INTO batches (meta, bytes) VALUES (?, ?)',
    );
    this.all = this.db.prepare<[], { seq: number; meta: string; bytes: Buffer }>(
      'SELECT seq, meta, bytes FROM batches ORDER BY seq',
    );
    this.remove = this.db.prepare<[number]>('DELETE FROM batches WHERE seq <= ?');
    this.any = this.db.prepare<[], number>('SELECT 1 FROM batches LIMIT 1').pluck();
    this.wal = new WalSync(`${file}-wal`);
    this.zeroFillWal('now');
  }

  /** Commits a batch (without its fsync: `sync()`); returns its place in the inbox. */
  add(batch: WireBatch): number {
    const bytes = Buffer.from(batch.bytes);
    return Number(
      withoutCommitSync(this.db, () => this.insert.run(batch.meta, bytes)).lastInsertRowid,
    );
  }

  /** Resolves once every batch added before the call is on disk. */
  sync(): Promise<void> {
    return this.wal.sync();
  }

  /** Every batch it holds, oldest first. */
  batches(): InboxBatch[] {
    return this.all.all().map((r) => ({
      seq: r.seq,
      // A copy of its own: the row's buffer is SQLite's, and the batch may be transferred.
      batch: { meta: r.meta, bytes: new Uint8Array(r.bytes).buffer },
    }));
  }

  /**
   * Deletes the batches up to `seq` (the caller made sure they are in the main database and on
   * disk there), and empties the WAL when nothing is left, so none of their bytes stays behind.
   */
  removeUpTo(seq: number): void {
    this.remove.run(seq);
    if (this.any.get() === undefined) this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /**
   * Writes zeros over the WAL's first WAL_ZEROED_BYTES past what it holds, so the next run's
   * commits overwrite blocks the file already has. An fdatasync of a file that grew must commit
   * the file system's journal, and on ext4 that waits for other files' pending writes too (the
   * expiry job writes gigabytes): measured, such syncs of the inbox took 30-57 ms at times
   * during a run. Overwriting in place needs no journal commit. SQLite reads a WAL only up to
   * its last valid frame, so zeros past it are nothing to it. Synced at start ('now'); after a
   * run ('later', the writer calls it once the disk is no longer busy with the run's writes), in
   * the thread pool.
   */
  zeroFillWal(sync: 'now' | 'later'): void {
    const fd = fs.openSync(`${this.file}-wal`, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    const size = fs.fstatSync(fd).size;
    try {
      writeZeros(fd, size, WAL_ZEROED_BYTES);
      if (sync === 'now') fs.fdatasyncSync(fd);
    } catch (e) {
      const full = ['ENOSPC', 'EDQUOT'].includes((e as NodeJS.ErrnoException).code ?? '');
      // Only a speed-up: on a nearly full disk, give the space back and start without it (a
      // collector that cannot start answers nothing; a running one answers 503 until there is
      // room, docs/operations.md).
      if (full) fs.ftruncateSync(fd, size);
      fs.closeSync(fd);
      if (full) return;
      throw e;
    }
    if (sync === 'now') fs.closeSync(fd);
    // Unsynced zeros only cost the next run's first syncs their time: nothing to report.
    else fs.fdatasync(fd, () => fs.close(fd, () => undefined));
  }

  close(): void {
    this.wal.close();
    this.db.close();
  }
}
