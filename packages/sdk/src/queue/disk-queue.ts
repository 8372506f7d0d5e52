import fs from 'node:fs';
import path from 'node:path';
import { type Report, makeDirSync, isProcessAlive } from '@jcs/protocol';
import { checkReport } from '../check-report';
import { CorruptFolder } from './corrupt-folder';
import { checkQueueDirTrust } from './dir-trust';
import { syncDirectory } from './fsync';
import { entriesIn, namesIn, readSmallFile, writeAtomic } from './queue-files';
import { loadOrCreateQueueKey, readQueueKeyFile } from './queue-key';
import {
  QueueNames,
  parseClaimName,
  parsePendingName,
  startedWithThisProcess,
  withSize,
  type PendingFile,
} from './queue-names';
import { openQueueFile, sealQueueFile } from './sealed-file';
import { StrandedClaims } from './stranded-claims';
import { retryTransient } from './transient-retry';
import { WaitFile } from './wait-file';
import {
  SHED_DUMP_MAX_TRIES,
  SHED_DUMP_MIN_BYTES,
  type ClaimedReport,
  type DumpShedHandler,
  type FloodStorage,
  type OverflowHandler,
  type QueueBounds,
  type ReportQueue,
} from './types';
import { withoutDump } from '../without-dump';

/** A claim older than this is taken back even from a live process (it cannot still be sending). */
const STALE_CLAIM_MS = 60 * 60 * 1000;
/** A temp file older than this belongs to a write that died half-way. */
const STALE_TMP_MS = 10 * 60 * 1000;
const RECOVER_EVERY_MS = 30 * 1000;

interface ReadReport {
  report: Report;
  /** plaintext written by an earlier version */
  legacy: boolean;
  bytes: number;
}

export interface DiskQueueEvents {
  onOverflow: OverflowHandler;
  /** a file that is not a report was moved aside */
  onCorrupt: (fileName: string) => void;
  /** a file could not be read now (a permission, a lock): left pending, tried again later */
  onUnreadable?: (fileName: string) => void;
  /** a report's dump was dropped to make room, the report kept */
  onDumpShed?: DumpShedHandler;
}

/** How long a pending file that could not be read is left alone before it is tried again. */
const UNREADABLE_RETRY_MS = 30_000;

/** readReport's answer for bytes that could not be read at all, as opposed to bad bytes. */
const UNREADABLE = Symbol('unreadable');

/**
 * A durable queue in a directory, safe to share between processes:
 *
 * - `pending/` holds one report per file, written to `tmp/`, fsynced and renamed in, so a file is
 *   either whole or absent whatever moment the process dies;
 * - every file is sealed (secretbox, see sealed-file.ts) under the queue key: the host's
 *   `queueKey`, else `queue.key` in the directory. A report holds a username, a licence and an
 *   error description, and none of that may sit on disk in clear;
 * - a sender claims a report by renaming it into `claimed/` under its pid: rename is atomic, so of
 *   two processes racing for one file exactly one wins, and no report is sent by both;
 * - a claim whose process died (or that is older than an hour) goes back to `pending/`;
 * - a report this process holds back from sending (a flood-control carrier still counting) is
 *   written as a claim of its own from the start (`hold`), rewritten as its count grows, and
 *   renamed into `pending/` when final (`commitHeld`): on disk at once, sent by no one while this
 *   process lives, and recovered like any claim when it dies;
 * - a file that does not open under the key or parse as a schema 1 report goes to `corrupt/`
 *   (sealed too), never crashing the SDK;
 * - plaintext files an earlier version left are sealed at start, and still sent.
 */
export class DiskQueue implements ReportQueue {
  readonly durable = true;
  private readonly pendingDir: string;
  private readonly claimedDir: string;
  private readonly tmpDir: string;
  private readonly corrupt: CorruptFolder;
  /** the collector's last Retry-After, kept for the next process */
  private readonly wait: WaitFile;
  private readonly names = new QueueNames();
  /** claims held by this instance: claim file name -> pending name */
  private readonly held = new Map<string, string>();
  /** claims given back whose rename into `pending/` has not succeeded yet */
  private readonly stranded: StrandedClaims;
  /** pending files that could not be read, by name -> when to try again */
  private readonly unreadable = new Map<string, number>();
  /**
   * Reports of SHED_DUMP_MIN_BYTES or more known to hold no dump (written so here, or opened to
   * shed one), by id: a full queue passes them by without opening them or counting them against
   * SHED_DUMP_MAX_TRIES, so a few such reports at the head no longer use up the tries while the
   * dumps behind them stay.
   */
  private readonly dumpless = new Set<string>();
  /**
   * reports held back from sending (`hold`): key -> the claim file holding it, and the final form
   * `commitHeld` could not write yet (it goes at a later look)
   */
  private readonly holding = new Map<
    string,
    { claimName: string; pendingName: string; bytes: number; final?: Report }
  >();
  private holdSeq = 0;
  private lastRecovery = 0;
  /** seals every file this instance writes */
  private sealKey: Uint8Array;
  /** opens files: the seal key, then `queue.key` where the host's key replaced it */
  private readonly openKeys: Uint8Array[];
  /** the host gave the key (`queueKey`): no `queue.key` to keep */
  private readonly hostKey: boolean;

  /**
   * Throws when the directory cannot be created or written, or its `queue.key` is damaged.
   * `queueKey` (32 bytes) replaces the key file; files sealed under the key file still open.
   */
  constructor(
    readonly dir: string,
    private readonly bounds: QueueBounds,
    private readonly events: DiskQueueEvents,
    queueKey?: Uint8Array,
  ) {
    this.pendingDir = path.join(dir, 'pending');
    this.claimedDir = path.join(dir, 'claimed');
    this.tmpDir = path.join(dir, 'tmp');
    this.stranded = new StrandedClaims(this.claimedDir, this.pendingDir);
    this.wait = new WaitFile(dir, this.tmpDir);
    const corruptDir = path.join(dir, 'corrupt');
    this.makeFolders();
    fs.accessSync(this.pendingDir, fs.constants.W_OK);
    this.hostKey = queueKey !== undefined;
    if (queueKey) {
      this.sealKey = queueKey;
      const fileKey = safeReadKeyFile(dir);
      this.openKeys = fileKey ? [queueKey, fileKey] : [queueKey];
    } else {
      this.sealKey = loadOrCreateQueueKey(dir, this.tmpDir);
      this.openKeys = [this.sealKey];
    }
    this.corrupt = new CorruptFolder(corruptDir, this.tmpDir, this.sealKey, events.onCorrupt);
    this.removeStaleTempFiles();
    this.recoverClaims();
    this.sealLegacyFiles();
  }

  add(report: Report): void {
    this.writing(() => {
      const sealed = sealQueueFile(JSON.stringify(report), this.sealKey);
      this.makeRoom(sealed.length);
      writeAtomic(
        this.tmpDir,
        path.join(this.pendingDir, this.names.pending(report.id, sealed.length)),
        sealed,
      );
      if (!report.dump && sealed.length >= SHED_DUMP_MIN_BYTES) this.dumpless.add(report.id);
    });
  }

  /**
   * A report this process holds back from sending: written straight into `claimed/` under this
   * process's claim, so it is on disk at once, no other process sends it while this one lives,
   * and recovery returns it to `pending/` once this process is dead, however it died. Not counted
   * by `size()`, nor put back by `close()`: `commitHeld` hands it to the senders.
   */
  hold(report: Report): string {
    return this.writing(() => {
      const sealed = sealQueueFile(JSON.stringify(report), this.sealKey);
      const pendingName = this.names.pending(report.id, sealed.length);
      const claimName = this.names.claim(pendingName);
      writeAtomic(this.tmpDir, path.join(this.claimedDir, claimName), sealed);
      const key = String(++this.holdSeq);
      this.holding.set(key, { claimName, pendingName, bytes: sealed.length });
      return key;
    });
  }

  rewriteHeld(key: string, report: Report): boolean {
    const h = this.holding.get(key);
    if (!h) return false;
    const sealed = sealQueueFile(JSON.stringify(report), this.sealKey);
    // Renamed to a fresh claim first (which also keeps it from ever looking stale), then written
    // over: one file throughout, so a crash at any moment leaves exactly one copy, old or new.
    const pendingName = withSize(h.pendingName, sealed.length);
    const claimName = this.names.claim(pendingName);
    try {
      retryTransient(() =>
        fs.renameSync(
          path.join(this.claimedDir, h.claimName),
          path.join(this.claimedDir, claimName),
        ),
      );
    } catch (error) {
      // Gone: not ours any more (taken back as stale, or removed by hand). Anything else (a lock
      // that outlasted the tries) leaves it ours, as last written, for the caller to try again:
      // taken as gone, a second copy was written, and the first, its count stale, reached the
      // collector before it, which answered the second 200 and dropped it.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      this.holding.delete(key);
      return false;
    }
    h.claimName = claimName;
    h.pendingName = pendingName;
    h.bytes = sealed.length;
    writeAtomic(this.tmpDir, path.join(this.claimedDir, claimName), sealed);
    return true;
  }

  /**
   * Writes the held report's final form and renames it into `pending/`. Where a lock or a full
   * disk refuses the write, it stays held as last written, its final form kept here and written
   * at a later look (counted by `size()` meanwhile), never as a second copy; should the process
   * end first, the next one sends it with the count last written, as after a crash.
   */
  commitHeld(key: string, report: Report): void {
    const h = this.holding.get(key);
    if (!h) {
      this.add(report);
      return;
    }
    let rewritten: boolean;
    try {
      rewritten = this.rewriteHeld(key, report);
    } catch {
      h.final = report;
      return;
    }
    if (!rewritten) {
      this.add(report);
      return;
    }
    this.holding.delete(key);
    this.makeRoom(h.bytes);
    this.stranded.giveBack(h.claimName, h.pendingName);
    syncDirectory(this.pendingDir);
  }

  /** Commits the held reports whose final form could not be written before. */
  private commitLater(): void {
    for (const [key, h] of [...this.holding]) {
      if (!h.final) continue;
      try {
        this.commitHeld(key, h.final);
      } catch {
        // Its claim gone meanwhile and the disk refusing a new file: kept for a later look.
        this.holding.set(key, h);
      }
    }
  }

  claimNext(): ClaimedReport | null {
    this.stranded.retry();
    this.commitLater();
    if (Date.now() - this.lastRecovery > RECOVER_EVERY_MS) this.recoverClaims();
    const now = Date.now();
    for (const file of this.listPending()) {
      if ((this.unreadable.get(file.name) ?? 0) > now) continue;
      const claimed = this.claim(file.name);
      if (claimed) return claimed;
    }
    return null;
  }

  release(key: string, toBack = false): void {
    const pendingName = this.held.get(key);
    if (pendingName === undefined) return;
    this.held.delete(key);
    this.stranded.giveBack(key, toBack ? this.names.renewed(pendingName) : pendingName);
  }

  /** Also answers the rewritten file's size in bytes (0 when the key was not held). */
  replace(key: string, report: Report): number {
    const pendingName = this.held.get(key);
    if (pendingName === undefined) return 0;
    const sealed = sealQueueFile(JSON.stringify(report), this.sealKey);
    const claimPath = path.join(this.claimedDir, key);
    // Overwrite the claimed file in place first: at no moment are there two copies to send.
    writeAtomic(this.tmpDir, claimPath, sealed);
    this.held.delete(key);
    this.stranded.giveBack(key, withSize(pendingName, sealed.length));
    return sealed.length;
  }

  remove(key: string): void {
    const pendingName = this.held.get(key);
    if (pendingName !== undefined) this.dumpless.delete(parsePendingName(pendingName)?.id ?? '');
    this.held.delete(key);
    try {
      // Tried again on a lock: left, it goes back to pending/ once this process is gone, and the
      // next sends it again (the collector answers 200 and keeps one).
      retryTransient(() => fs.unlinkSync(path.join(this.claimedDir, key)));
    } catch {
      // already gone, or locked past the tries: sent again by the next process, as above
    }
  }

  size(): number {
    let committed = 0;
    for (const h of this.holding.values()) if (h.final) committed++;
    return this.listPending().length + this.held.size + this.stranded.size + committed;
  }

  /** Puts back what this instance holds; what cannot go back yet is recovered once it is gone. */
  close(): void {
    for (const key of [...this.held.keys()]) this.release(key);
    this.stranded.retry();
    this.commitLater();
  }

  holds(reportId: string): boolean {
    // pending/ again last: a claim given back (claimed/ to pending/) between the first two looks
    // would be in neither; one taken (pending/ to claimed/) after the first is in the second.
    for (const dir of [this.pendingDir, this.claimedDir, this.pendingDir]) {
      try {
        if (fs.readdirSync(dir).some((name) => name.includes(reportId))) return true;
      } catch {
        // no such folder: nothing of it there
      }
    }
    return false;
  }

  waitUntil(): number {
    return this.wait.until();
  }

  setWaitUntil(atMs: number): void {
    this.wait.set(atMs);
  }

  clearWaitUntil(nowMs: number, credibleMs = Infinity): void {
    this.wait.clear(nowMs, credibleMs);
  }

  floodStorage(): FloodStorage {
    return {
      dir: path.join(this.dir, 'flood'),
      tmpDir: this.tmpDir,
      seal: (report) => sealQueueFile(JSON.stringify(report), this.sealKey),
      open: (bytes) => this.openReport(bytes)?.report ?? null,
      add: (report) => this.add(report),
    };
  }

  /**
   * Runs a write of a new file, and once more after making the queue's folders again where they
   * were removed under it (a clean-up tool, a user tidying app data): reports stay on disk rather
   * than fall back to memory for the rest of the run. What the folder held went with it.
   */
  private writing<T>(write: () => T): T {
    this.followKeyFile();
    try {
      return write();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || !this.remakeFolders()) throw error;
      return write();
    }
  }

  /** Makes the folders and `queue.key` again where one is missing; false when none was. */
  private remakeFolders(): boolean {
    const folders = [this.dir, this.pendingDir, this.claimedDir, this.tmpDir];
    if (folders.every((d) => fs.existsSync(d))) return false;
    this.makeFolders();
    this.followKeyFile();
    return true;
  }

  /**
   * Seals with the key the next process will find: `queue.key` published again under this
   * instance's key where it was removed, and a key another process published meanwhile (having
   * made the folder again first) taken up. A damaged key file is left as it is (see
   * loadOrCreateQueueKey), and this instance keeps its key.
   */
  private followKeyFile(): void {
    if (this.hostKey) return;
    // Read whole each time (32 bytes, a report at a time): a file's inode number is reused.
    // Without tmp/ (the folder went too) publishing fails: the write then fails as well, and
    // remakeFolders comes back here.
    try {
      const published = loadOrCreateQueueKey(this.dir, this.tmpDir, () => this.sealKey);
      if (Buffer.compare(published, this.sealKey) !== 0) {
        this.openKeys.unshift(published);
        this.sealKey = published;
      }
    } catch {
      // Kept as it was: the report is still written, under this instance's key.
    }
  }

  private makeFolders(): void {
    for (const name of ['pending', 'claimed', 'tmp', 'corrupt']) {
      makeDirSync(path.join(this.dir, name), 0o700);
    }
    checkQueueDirTrust(this.dir);
  }

  /** Claims one pending file and reads it; null when another process got it or it is corrupt. */
  private claim(pendingName: string): ClaimedReport | null {
    const claimName = this.names.claim(pendingName);
    const claimPath = path.join(this.claimedDir, claimName);
    try {
      // Not tried again on a lock: the report stays in pending/ for a later look, and a claim is
      // tried for each file of a listing, where waits would add up.
      fs.renameSync(path.join(this.pendingDir, pendingName), claimPath);
    } catch {
      return null; // another process claimed it first, or it was dropped, or it is locked
    }
    const read = this.readReport(claimPath);
    if (read === UNREADABLE) {
      // Not bad bytes but none read (a permission, a virus scanner's lock on Windows): it may be
      // a whole report, so it goes back to pending/ as it is, to be tried again later.
      this.stranded.giveBack(claimName, pendingName);
      this.unreadable.set(pendingName, Date.now() + UNREADABLE_RETRY_MS);
      this.events.onUnreadable?.(pendingName);
      return null;
    }
    if (!read) {
      this.corrupt.moveAside(claimPath, pendingName);
      return null;
    }
    this.unreadable.delete(pendingName);
    let bytes = read.bytes;
    if (read.legacy) {
      try {
        const sealed = sealQueueFile(JSON.stringify(read.report), this.sealKey);
        writeAtomic(this.tmpDir, claimPath, sealed);
        bytes = sealed.length;
      } catch {
        // Still sendable as it is; sealed the next time it is claimed.
      }
    }
    this.held.set(claimName, withSize(pendingName, bytes));
    return { key: claimName, report: read.report };
  }

  /** Plaintext reports an earlier version queued: sealed now rather than when their turn comes. */
  private sealLegacyFiles(): void {
    for (const file of this.listPending()) {
      if (!file.name.endsWith('.json')) continue;
      const claimed = this.claim(file.name);
      if (claimed) this.release(claimed.key);
    }
    this.corrupt.sealLegacyFiles();
  }

  private listPending(): PendingFile[] {
    const entries = entriesIn(this.pendingDir).sort((a, b) => (a.name < b.name ? -1 : 1));
    const files: PendingFile[] = [];
    for (const entry of entries) {
      const name = entry.name;
      // A folder is not ours to move or delete; a symbolic link is dealt with as a bad file
      // (removed, never followed: it may point anywhere).
      if (entry.isDirectory()) continue;
      const file = entry.isFile() ? parsePendingName(name) : null;
      if (file) files.push(file);
      else if (!name.startsWith('.'))
        this.corrupt.moveAside(path.join(this.pendingDir, name), name);
    }
    return files;
  }

  private makeRoom(incomingBytes: number): void {
    let files = this.listPending();
    let total = files.reduce((sum, f) => sum + f.bytes, 0);
    if (
      total + incomingBytes > this.bounds.maxBytes &&
      this.shedDumps(files, total, incomingBytes)
    ) {
      files = this.listPending();
      total = files.reduce((sum, f) => sum + f.bytes, 0);
    }
    let count = files.length;
    for (const victim of files) {
      if (count + 1 <= this.bounds.maxReports && total + incomingBytes <= this.bounds.maxBytes) {
        break;
      }
      try {
        fs.unlinkSync(path.join(this.pendingDir, victim.name));
      } catch {
        continue; // claimed by a sender meanwhile: not ours to drop
      }
      count--;
      total -= victim.bytes;
      this.dumpless.delete(victim.id);
      this.events.onOverflow(victim.id);
    }
  }

  /**
   * Over the byte bound: sends the oldest large reports without their dumps until the incoming
   * one fits, rather than dropping whole reports. True when any was rewritten.
   */
  private shedDumps(files: PendingFile[], total: number, incomingBytes: number): boolean {
    // Forgets the reports no longer waiting (sent by another process, removed by hand).
    const waiting = new Set(files.map((f) => f.id));
    for (const id of this.dumpless) if (!waiting.has(id)) this.dumpless.delete(id);
    let shed = false;
    let tries = 0;
    for (const file of files) {
      if (total + incomingBytes <= this.bounds.maxBytes || tries >= SHED_DUMP_MAX_TRIES) break;
      if (file.bytes < SHED_DUMP_MIN_BYTES || this.dumpless.has(file.id)) continue;
      tries++;
      const claimed = this.claim(file.name);
      if (!claimed) continue; // a sender took it meanwhile, or it was not a report
      this.dumpless.add(claimed.report.id);
      if (claimed.report.dump === undefined) {
        this.release(claimed.key);
        continue;
      }
      let smaller: number;
      try {
        smaller = this.replace(claimed.key, withoutDump(claimed.report));
      } catch {
        // Not rewritten (a full disk): back as it was, sendable, rather than claimed for the run.
        // The next would fail alike: what room is wanting is made by dropping reports.
        this.dumpless.delete(claimed.report.id);
        this.release(claimed.key);
        break;
      }
      total -= file.bytes - smaller;
      shed = true;
      this.events.onDumpShed?.(claimed.report.id);
    }
    return shed;
  }

  private readReport(file: string): ReadReport | null | typeof UNREADABLE {
    let raw: Buffer | null;
    try {
      // Tried again on a lock of a moment: given back, the report would wait UNREADABLE_RETRY_MS.
      raw = retryTransient(() => readSmallFile(file));
    } catch {
      return UNREADABLE;
    }
    if (!raw) return null;
    const opened = this.openReport(raw);
    return opened ? { ...opened, bytes: raw.length } : null;
  }

  /** A queue file's report (sealed, or plaintext an earlier version wrote); null when it is none. */
  private openReport(raw: Buffer): { report: Report; legacy: boolean } | null {
    try {
      const opened = openQueueFile(raw, this.openKeys);
      if (!opened) return null;
      // A sealed file is this SDK's own, checked when it was written; a plaintext one an earlier
      // version left is anyone's who could write the folder.
      const v = checkReport(JSON.parse(opened.text), opened.legacy ? 'refuse' : 'send');
      return v.ok ? { report: v.report, legacy: opened.legacy } : null;
    } catch {
      return null;
    }
  }

  /**
   * Returns to `pending/` what processes that are gone left claimed (and a live process's claim
   * older than an hour). Run at start, every 30 s while sending, and at each `flush()`.
   */
  recoverClaims(): void {
    this.lastRecovery = Date.now();
    const names = namesIn(this.claimedDir);
    for (const name of names) {
      const claim = parseClaimName(name);
      if (!claim) {
        this.corrupt.moveAside(path.join(this.claimedDir, name), name);
        continue;
      }
      if (claim.instance === this.names.instance) continue;
      const age = Date.now() - claim.claimedAt;
      const owner =
        claim.pid === process.pid
          ? startedWithThisProcess(claim.instance)
          : isProcessAlive(claim.pid);
      if (owner && age < STALE_CLAIM_MS) continue;
      try {
        const pending = path.join(this.pendingDir, claim.pendingName);
        fs.renameSync(path.join(this.claimedDir, name), pending);
      } catch {
        // another process recovered it first
      }
    }
  }

  private removeStaleTempFiles(): void {
    const names = namesIn(this.tmpDir);
    for (const name of names) {
      const file = path.join(this.tmpDir, name);
      try {
        const pid = Number(name.split('-')[0]);
        const old = Date.now() - fs.statSync(file).mtimeMs > STALE_TMP_MS;
        // A half-written report belongs to a report() call that never returned its id: drop it.
        if (old || !isProcessAlive(pid)) fs.unlinkSync(file);
      } catch {
        // gone already
      }
    }
  }
}

/** The key file's key, or null: a damaged one must not stop a queue that has the host's key. */
function safeReadKeyFile(dir: string): Uint8Array | null {
  try {
    return readQueueKeyFile(dir);
  } catch {
    return null;
  }
}
