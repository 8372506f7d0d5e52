import fs from 'node:fs';
import { makeDirSync } from '@jcs/protocol';
import path from 'node:path';
import { getMeta, setMeta, type Db } from './db';
import { fsyncDir, writeZeros } from '../crypto/files';
import { dayStart } from '../retention/policy';
import { DAY_MS } from '../time';
import { SeenFolder } from '../seen-folder';

/**
 * Where reports' sealed personal fields are kept: one append-only file per day of receipt
 * (`sealed/2026-11-29.sealed` beside the database), each report's record at an offset its row in
 * `reports` names (sealed_at, sealed_len).
 *
 * Why not in the database: those fields are most of a report's bytes (about 1.3 of 1.6 KiB). In
 * a table, expiring a million reports rewrote some 1.6 GB of pages through the WAL, which held
 * up ingest and kept the job under 50,000 reports/s. In a file of their day, a day that has
 * fully expired goes with one unlink, after its data key is shredded; only the part of a day
 * that expires while the rest stays is overwritten with zeros (store/sealed-wipes.ts).
 */
export function sealedDir(dbFile: string): string {
  return path.join(path.dirname(dbFile), 'sealed');
}

const DAY_FILE = /^(\d{4}-\d{2}-\d{2})\.sealed$/;

export function dayFile(dir: string, day: string): string {
  return path.join(dir, `${day}.sealed`);
}

/** Days that have a file, oldest first. */
export function listDayFiles(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((n) => DAY_FILE.exec(n)?.[1])
    .filter((d): d is string => d !== undefined)
    .sort();
}

/** How much of a day file each step of its removal frees, and the pause between two steps. */
const REMOVE_STEP_BYTES = 16 << 20;
const REMOVE_PAUSE_MS = 5;

/**
 * Removes a day's file once its data key is shredded: what it holds can no longer be opened, in
 * this file or any copy of it. False when there was none.
 *
 * Cut from the end in steps of 16 MiB with a pause between, then unlinked: freeing the blocks of
 * a file of a few hundred megabytes at once kept the file system's journal busy for tens of
 * milliseconds, and every fsync of ingest waited for it. Measured with a 4 KiB write and
 * fdatasync every 5 ms while six files of 180 MB went: a p99 of 22-24 ms unlinked whole, 6-9 ms
 * in steps. A run stopped midway leaves a shorter file under a shredded key, which the next run
 * removes like any other.
 */
export async function removeDayFile(dir: string, day: string): Promise<boolean> {
  const file = dayFile(dir, day);
  try {
    const handle = await fs.promises.open(file, 'r+');
    try {
      for (let size = (await handle.stat()).size; size > 0;) {
        size = Math.max(0, size - REMOVE_STEP_BYTES);
        await handle.truncate(size);
        await new Promise((resolve) => setTimeout(resolve, REMOVE_PAUSE_MS));
      }
    } finally {
      await handle.close();
    }
    await fs.promises.unlink(file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/**
 * At most this many reports are committed with their records not yet known to be on disk (the
 * ingest batcher holds further batches back until syncs complete): the newest rows that the
 * start-up check (store/sealed-repair.ts) reads cover every report a power cut can have left
 * without its record.
 */
export const MAX_UNSYNCED_RECORDS = 4_096;

/**
 * A day file is written ahead with zeros, from a quarter of what it holds up to 1 MiB at a time
 * (64 KiB at least), so that appending a batch's records overwrites blocks the file already has
 * and their sync changes nothing but data. Appended to the end instead, every sync changed the
 * file's size and allocated blocks, so it committed the file system's journal, and the WAL's sync
 * of the same batch waited behind it: on a store of 160,000 reports, ingest's p99 at 1,000
 * reports/s was 33-34 ms with the day file synced and 26-28 ms without (side by side).
 */
const AHEAD_MIN_BYTES = 64 * 1024;
const AHEAD_MAX_BYTES = 1024 * 1024;

/**
 * The `meta` key under which a day file's end is kept: the end of its last committed record.
 * The file's size no longer says it (the file is written ahead), so every writer reads and moves
 * it inside its write transaction.
 */
export function sealedEndKey(day: string): string {
  return `sealed_end:${day}`;
}

/**
 * The `meta` key under which a day file's synced end is kept: how far its records are known to
 * be on disk, moved in a batch's transaction once the syncs of the batches before it are done.
 * A record that ends at or before it cannot have been lost to a power cut (the start-up repair,
 * store/sealed-repair.ts): missing there, the file was removed or replaced by someone.
 */
export function sealedSyncedKey(day: string): string {
  return `sealed_synced:${day}`;
}

/** The synced end kept for a day's file: 0 where none is (nothing known to be on disk). */
export function syncedEnd(db: Db, day: string): number {
  return Number(getMeta(db, sealedSyncedKey(day)) ?? 0);
}

/** The end kept for a day's file, if any (files written before it was kept have none). */
export function keptEnd(db: Db, day: string): number | undefined {
  const value = getMeta(db, sealedEndKey(day));
  return value === undefined ? undefined : Number(value);
}

interface OpenFile {
  fd: number;
  /** where the committed records end (past it: zeros, or a batch that never committed) */
  size: number;
  /** the file's own size: written ahead with zeros up to here */
  allocated: number;
  pending: Buffer[];
  pendingBytes: number;
  /** written since the last sync began */
  dirty: boolean;
  /** how far the records are known to be on disk; and the value last kept in `meta` */
  synced: number;
  syncedKept: number;
  /** syncs in flight: the descriptor is closed only once none is */
  syncing: number;
  /** let go of while a sync was in flight: closed when it ends */
  released: boolean;
}

/**
 * The ingest writer's side: records are placed (`add`) while the batch's rows are inserted and
 * written (`flush`) at the end of its transaction, before the commit, so a committed row never
 * names bytes that another process cannot read. A batch that rolls back is cut off again
 * (`rollback`); a crash between the write and the commit leaves bytes past the last committed
 * record, which are cut off when the file is next opened for appending.
 *
 * On disk: either `flush(true)` syncs the records before the commit, or `sync()` after it, at
 * the same time as the WAL's own sync (the ingest writer does that: one sync's wait instead of
 * two in a row). A power cut between the two syncs can then leave a committed row whose record
 * never reached the disk: a report not yet answered, which its sender sends again, and which
 * store/sealed-repair.ts removes from the database at the next start.
 *
 * Only the writer appends, and only inside its write transaction (which holds the database's
 * single writer lock), so the end of a file can be worked out from the rows.
 *
 * @example
 * const at = sealed.add('2026-11-29', record); // inside the transaction
 * sealed.flush(false);                          // still inside, before COMMIT
 * sealed.commit();                              // after COMMIT (or rollback() after a failure)
 * await sealed.sync();                          // with the WAL's sync: then answer 202
 */
export class SealedAppender {
  private readonly files = new Map<string, OpenFile>();
  private readonly committedEnd;
  /** `sealed/`: gone since it was there (moved away), a new one is not made in its place */
  private readonly folder: SeenFolder;

  constructor(
    private readonly db: Db,
    private readonly dir = sealedDir(db.name),
  ) {
    this.committedEnd = db.prepare<[number, number], number | null>(
      'SELECT max(sealed_at + sealed_len) FROM reports WHERE received_at >= ? AND received_at < ?',
    );
    this.committedEnd.pluck();
    this.folder = new SeenFolder(this.dir);
  }

  /** Where `record` will be in its day's file. Call inside the write transaction. */
  add(day: string, record: Buffer): number {
    const f = this.open(day);
    const at = f.size + f.pendingBytes;
    f.pending.push(record);
    f.pendingBytes += record.length;
    return at;
  }

  /**
   * Writes what `add` placed, and with `durable` syncs it too; call inside the transaction,
   * before it commits. Without `durable`, `sync()` after the commit makes it durable.
   */
  flush(durable: boolean): void {
    for (const [day, f] of this.files) {
      if (f.pendingBytes === 0) continue;
      const end = f.size + f.pendingBytes;
      if (end > f.allocated) writeAhead(f, end);
      const bytes =
        f.pending.length === 1 ? f.pending[0] : Buffer.concat(f.pending, f.pendingBytes);
      writeAll(f.fd, bytes, f.size);
      setMeta(this.db, sealedEndKey(day), String(end));
      if (durable) {
        fs.fdatasyncSync(f.fd);
        f.synced = end;
      } else {
        f.dirty = true;
      }
      if (f.synced > f.syncedKept) {
        setMeta(this.db, sealedSyncedKey(day), String(f.synced));
        f.syncedKept = f.synced;
      }
    }
  }

  /**
   * Resolves once every record written so far is on disk: an fdatasync of each file written
   * since the last call, in the thread pool. Rejects with the first failure.
   */
  sync(): Promise<void> {
    const syncs: Promise<void>[] = [];
    for (const f of this.files.values()) {
      if (!f.dirty) continue;
      f.dirty = false;
      f.syncing++;
      // Called after the commit: what this sync covers ends at the committed end.
      const upTo = f.size;
      syncs.push(
        new Promise<void>((resolve, reject) =>
          fs.fdatasync(f.fd, (err) => {
            f.syncing--;
            if (f.released && f.syncing === 0) fs.close(f.fd, () => {});
            if (err) return reject(err);
            f.synced = Math.max(f.synced, upTo);
            resolve();
          }),
        ),
      );
    }
    return Promise.all(syncs).then(() => undefined);
  }

  /** The transaction committed: its records are part of their files. */
  commit(): void {
    for (const f of this.files.values()) {
      f.size += f.pendingBytes;
      f.pending = [];
      f.pendingBytes = 0;
    }
  }

  /**
   * The transaction rolled back, and the end it moved with it: whatever `flush` wrote for it lies
   * past the end, where the next batch writes over it.
   */
  rollback(): void {
    for (const f of this.files.values()) {
      f.pending = [];
      f.pendingBytes = 0;
      // flush(true) synced records that are not part of the file now: the next batch writes
      // over them, unsynced.
      f.synced = Math.min(f.synced, f.size);
      f.syncedKept = Math.min(f.syncedKept, f.size);
    }
  }

  close(day?: string): void {
    // Their last syncs' marks, which only a next batch for the day would otherwise keep: left
    // lagging, the start-up repair would take the last batch's reports, acknowledged, for a
    // power cut's should their records be gone (store/sealed-repair.ts).
    const due = [...this.files].filter(
      ([d, f]) => (day === undefined || d === day) && f.synced > f.syncedKept,
    );
    if (due.length > 0 && this.db.open) {
      try {
        // A savepoint inside the batch's transaction (a day let go of as another opens).
        this.db.transaction(() =>
          due.forEach(([d, f]) => setMeta(this.db, sealedSyncedKey(d), String(f.synced))),
        )();
      } catch {
        // Only a mark: a lagging one makes the repair no more careful than before it existed.
      }
    }
    for (const [d, f] of this.files) {
      if (day !== undefined && d !== day) continue;
      this.files.delete(d);
      // A sync in flight still needs the descriptor: it closes it when done.
      if (f.syncing > 0) f.released = true;
      else fs.closeSync(f.fd);
    }
  }

  /**
   * Cuts a day file no longer written to back to its end, so the zeros written ahead take no
   * space for the rest of its days. Call inside the write transaction: another writer's records
   * past this one's idea of the end are then committed, and the end read here counts them.
   */
  private trim(day: string, f: OpenFile): void {
    const end = keptEnd(this.db, day) ?? f.size;
    if (f.allocated > end && fs.fstatSync(f.fd).nlink > 0) fs.ftruncateSync(f.fd, end);
  }

  private open(day: string): OpenFile {
    let f = this.files.get(day);
    let carried = 0;
    if (f && f.pendingBytes === 0) {
      // The batch's first record for this file. The folder moved away is the storage failing for
      // an open file too: its records would go on into the moved folder through the descriptor,
      // acknowledged, and be lost with it if it did not come back.
      if (this.folder.gone()) throw new SealedFolderGoneError(this.dir);
      // Under the write lock: another writer (a test's second writer, the bench's filler) may
      // have appended since.
      const st = fs.fstatSync(f.fd);
      // The same with the file alone moved away, or the folder swapped for another (a backup
      // copied in its place): the path no longer leads to the file this one writes.
      if (st.nlink > 0 && !isFileAt(dayFile(this.dir, day), st)) {
        throw new SealedFolderGoneError(this.dir, dayFile(this.dir, day));
      }
      if (st.nlink > 0) {
        f.size = keptEnd(this.db, day) ?? f.size;
        f.allocated = Math.max(st.size, f.size);
      } else {
        // Unlinked by another process's expiry (a run judged from the future shreds today's
        // key): what follows goes to a new file, as it goes under a new key. Or removed by
        // someone (expiry would have taken the day's end with it): its records were on disk as
        // far as it was synced, which the new file's mark keeps saying.
        if (keptEnd(this.db, day) !== undefined) carried = f.synced;
        // The expiry took the day's marks with its file: the old file's sync is not the new
        // one's, and written back it would make the start-up repair take the new file's lost
        // records for synced ones (store/sealed-repair.ts).
        else f.syncedKept = f.synced;
        this.close(day);
        f = undefined;
      }
    }
    if (f) return f;
    // A new day: files of the days before yesterday are done with (reports are written under
    // their day of receipt), and one held open would keep its disk space after expiry removes it.
    for (const [d, old] of [...this.files]) {
      if (dayStart(d) < dayStart(day) - DAY_MS && old.pendingBytes === 0) {
        this.trim(d, old);
        this.close(d);
      }
    }
    // Made where there never was one (a new data dir, a restore without it); one moved away
    // while the collector runs is the storage failing (503), or its files would be split between
    // the two folders, and the old one could not be put back.
    if (this.folder.gone()) throw new SealedFolderGoneError(this.dir);
    if (!fs.existsSync(this.dir)) {
      makeDirSync(this.dir, 0o700);
      // The folder's own name too: the start-up repair takes a missing folder for a restore
      // (store/sealed-repair.ts), which only holds while a power cut cannot lose it.
      fsyncDir(path.dirname(this.dir));
    }
    this.folder.saw();
    const file = dayFile(this.dir, day);
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    try {
      const start = dayStart(day);
      // Past the end: zeros written ahead, or a batch that never committed (a crash between
      // its write and its commit), which the next batch writes over.
      const end = keptEnd(this.db, day) ?? this.committedEnd.get(start, start + DAY_MS) ?? 0;
      const size = fs.fstatSync(fd).size;
      if (size === 0) fsyncDir(this.dir);
      const kept = syncedEnd(this.db, day);
      f = {
        fd,
        size: end,
        allocated: Math.max(size, end),
        pending: [],
        pendingBytes: 0,
        dirty: false,
        // As kept: what an earlier process synced after its last batch is not known here.
        synced: Math.min(Math.max(kept, carried), end),
        syncedKept: kept,
        syncing: 0,
        released: false,
      };
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    this.files.set(day, f);
    return f;
  }
}

/** Writes zeros past the file's size, far enough ahead to hold `end` and more. */
function writeAhead(f: OpenFile, end: number): void {
  const ahead = Math.min(AHEAD_MAX_BYTES, Math.max(AHEAD_MIN_BYTES, end >> 2));
  writeZeros(f.fd, f.allocated, end + ahead);
  f.allocated = end + ahead;
}

function writeAll(fd: number, bytes: Buffer, position: number): void {
  let done = 0;
  while (done < bytes.length) {
    done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done);
  }
}

/** The `code` of a SealedFolderGoneError: the storage failing (ingest/unavailable.ts). */
export const SEALED_FOLDER_GONE_CODE = 'JCS_SEALED_GONE';

/** `sealed/` gone from under a running collector, or the day file being written moved away. */
export class SealedFolderGoneError extends Error {
  readonly code = SEALED_FOLDER_GONE_CODE;

  constructor(dir: string, file?: string) {
    super(
      file === undefined
        ? `the folder of sealed fields ${dir} is gone while the collector runs: put it back (reports cannot be read without it)`
        : `the day file of sealed fields ${file} is no longer the one the collector writes (moved away, or its folder replaced, while the collector runs): put it back, or restart the collector`,
    );
    this.name = 'SealedFolderGoneError';
  }
}

/** Whether `file` is the file `open` describes (same device and inode). */
function isFileAt(file: string, open: fs.Stats): boolean {
  try {
    const st = fs.statSync(file);
    return st.ino === open.ino && st.dev === open.dev;
  } catch {
    return false;
  }
}
