import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isProcessAlive, type Report } from '@jcs/protocol';
import type { DiagnosticSink } from './diagnostics';
import type { DrainMode } from './flood';
import { withRepeats, type FloodDecision, type HeldOccurrence } from './flood-carriers';
import { syncDirectory } from './queue/fsync';
import {
  createExclusive,
  folders,
  folderState,
  lineFolder,
  realFolder,
  removeFolder,
  removeIfOlder,
  renamed,
  takeSlot,
} from './flood-folders';
import { entriesIn, publishOnce, readSmallFile } from './queue/queue-files';
import { startedWithThisProcess, QueueNames } from './queue/queue-names';
import type { FloodStorage } from './queue/types';

/** `<group hash>-<window start ms>-<window ms>`: a window's folder. */
const WINDOW = '[0-9a-f]{16}-\\d{1,16}-\\d{1,16}';
const WINDOW_NAME = new RegExp(`^(${WINDOW})$`);
/** `~<pid>~<instance>~<since ms>`: whose a folder being released is, since when. */
const OWNER = '~(\\d+)~([0-9a-f]+)~(\\d{1,16})$';
/** A window being released: `.releasing-<window><owner>`. */
const RELEASING_NAME = new RegExp(`^\\.releasing-(${WINDOW})${OWNER}`);
/** A line sent before its window ends (a flush): `.line-<window>-line-<n><owner>`. */
const EARLY_NAME = new RegExp(`^\\.line-(${WINDOW})-(line-\\d+)${OWNER}`);
/** A carrier queued, so that a release done again does not queue it again: `.sent-<id>`. */
const SENT_MARK = /^\.sent-[0-9a-f-]{36}$/;
/** How long a `.sent-` mark is kept: a release done again comes within minutes. */
const SENT_MARK_MS = 24 * 60 * 60 * 1000;
/** A release takes milliseconds: one this old is taken over even from a live pid (reused). */
const STALE_RELEASE_MS = 10 * 60 * 1000;
const CARRIER_FILE = 'carrier.sealed';
/**
 * One file per held-back occurrence, `<carrier id>~<occurrence id>.n` until a release counts it
 * (`.counted`). Named by its carrier too: a release counts only its own carrier's files, so an
 * occurrence whose line folder was replaced under it (a release moved it, a call made another)
 * is never counted on a carrier it did not answer with.
 */
const HELD = /^([0-9a-f-]{36})~([0-9a-f-]{36})\.n$/;
const COUNTED = /^([0-9a-f-]{36})~([0-9a-f-]{36})\.counted$/;
/** An uncounted occurrence's file: kept when a released folder goes, for its maker to take back. */
const isHeld = (name: string) => HELD.test(name);
/** A file of another carrier's in a line folder is left this long for its maker to take back. */
const STRAY_MS = 10 * 60 * 1000;

export interface SharedFloodOptions {
  maxPerGroup: number;
  windowMs: number;
  /** the app the groups are of (the collector groups by app, number, module and procedure) */
  app: string;
  storage: FloodStorage;
  diagnostic: DiagnosticSink;
  /** The carrier of a held-back occurrence, as the hooks leave it (null: beforeSend dropped it). */
  makeCarrier(carrierId: string, sample: HeldOccurrence): Report | null;
  /** injectable for tests: the wall clock, which every process on the machine shares */
  now?: () => number;
}

/** Where this process counted an occurrence: its window's folder and its line's. */
interface Counted {
  windowDir: string;
  lineDir: string;
  windowEnd: number;
}

/**
 * Flood control across processes sharing a queue dir, for `jcs-report`: each call is a process
 * of its own, so a host's error loop would otherwise send every error. It does what flood control
 * does in one process for a host that reports and then flushes, with the windows kept on disk and
 * aligned to the clock (`floor(now / windowMs)`), so that every process agrees on them without a
 * lock:
 *
 * - the first `maxPerGroup` occurrences of a group in a window each take a `sent-<i>` file
 *   (created exclusively: of two racing processes one gets it) and go out as themselves;
 * - the rest are held back by line (up to MAX_LINES_HELD lines a window): the first makes the
 *   line's carrier (linked in whole, so of two racing carriers one wins, and both answer with its
 *   id), and each leaves a file named by that carrier's id and its own: the count is the number
 *   of the carrier's files, so no increment is lost to a race;
 * - the flush that follows (every call's) sends its group's carriers at once, up to `maxPerGroup`
 *   times a window (`early-<i>` files), as flush() does in one process; past that they wait for
 *   the window's end, and the first process to look after it releases them;
 * - a release renames the line's (or the window's) folder first (one process wins), counts each
 *   of its own carrier's files by renaming it, and queues the carrier with the count, on disk or
 *   not at all. An occurrence that does not find its file in place beside its carrier after
 *   making it (a release moved the folder, another took its place) takes it back if it was not
 *   counted yet and counts itself on the line's next carrier. A releaser that dies is taken
 *   over; a carrier it queued is marked, and not queued again.
 *
 * A carrier that waits for its window's end goes out with the first call after it, which may be
 * much later: it is counted, never lost. Any file-system failure before an occurrence is counted
 * lets it go out as itself; one during a release leaves the release to a later process.
 *
 * @example
 * const decision = sharedFlood.admit(id, { occurredAt, error });
 * if (decision.held) return decision.carrierId; // counted; flush() sends it, or a later call
 */
export class SharedFloodControl {
  private readonly now: () => number;
  private readonly instance = new QueueNames().instance;
  /** the carriers this process counted an occurrence on that are not released yet, by id */
  private readonly counted = new Map<string, Counted>();
  /** carriers this process queued: a held-back call that queued one sends it too */
  released = 0;

  constructor(private readonly o: SharedFloodOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Lets the occurrence through, or counts it on its window's carrier for its line. */
  admit(id: string, occurrence: HeldOccurrence): FloodDecision {
    const sent: FloodDecision = { held: false, reportId: id, repeats: 0 };
    this.releaseDue();
    const { maxPerGroup, windowMs } = this.o;
    const start = Math.floor(this.now() / windowMs) * windowMs;
    const { error } = occurrence;
    const group = createHash('sha256')
      .update(`${this.o.app}\u0000${error.number}\u0000${error.module}\u0000${error.procedure}`)
      .digest('hex')
      .slice(0, 16);
    const windowDir = path.join(this.o.storage.dir, `${group}-${start}-${windowMs}`);
    try {
      fs.mkdirSync(windowDir, { recursive: true, mode: 0o700 });
      // Written into only as a real folder: a symbolic link planted there is not followed.
      if (!realFolder(windowDir)) return sent;
      if (takeSlot(windowDir, 'sent', maxPerGroup)) return sent;
    } catch {
      return sent;
    }
    // Once a carrier is made under this occurrence's id, it goes as itself under a new one: the
    // carrier may yet go out under this id with others' counts.
    const made = { underId: false };
    const asItself = (): FloodDecision =>
      made.underId ? { ...sent, reportId: randomUUID() } : sent;
    // A line sent early by another process's flush may move away under this one (and another
    // take its place): this one is then counted on the line's next carrier. Each failed attempt
    // was a move, and a line moves at most maxPerGroup times a window (its early sends) and once
    // at its end: one attempt more than that is never lost to other calls' moves.
    for (let attempt = 1; attempt <= maxPerGroup + 2; attempt++) {
      let counted: { lineDir: string; carrierId: string } | 'retry' | 'itself';
      try {
        counted = this.count(windowDir, id, String(error.line), occurrence, made);
      } catch {
        return asItself();
      }
      if (counted === 'itself') return asItself();
      if (counted === 'retry') continue;
      const { lineDir, carrierId } = counted;
      // Seen in place beside its carrier, it is counted by that carrier's release, whenever it
      // comes. Not seen so: a release moved the folder meanwhile (and may have listed it before
      // this file was made), or another folder took its place. Whichever of a release and this
      // process takes the file first has it.
      const inPlace = this.inPlace(lineDir, carrierId, id);
      // Not in place, and counted by its carrier's release (only its own carrier's counts it):
      // out with that carrier, which no longer waits on this process.
      if (inPlace || this.withdraw(carrierId, id) === 'counted') {
        if (inPlace) {
          this.counted.set(carrierId, { windowDir, lineDir, windowEnd: start + windowMs });
        }
        this.o.diagnostic({
          code: 'rate_limited',
          message: `more than ${maxPerGroup} reports of this error within ${windowMs} ms (across jcs-report calls): it is counted in repeats on report ${carrierId}`,
          reportId: carrierId,
        });
        return { held: true, carrierId };
      }
    }
    return asItself();
  }

  /**
   * Counts the occurrence in its line's folder on the carrier there (made from it, under `id` or
   * a new id where this occurrence made one already: `made.underId`, set here): the folder and
   * carrier, or what to do instead. Throws for a failure of the file system.
   */
  private count(
    windowDir: string,
    id: string,
    line: string,
    occurrence: HeldOccurrence,
    made: { underId: boolean },
  ): { lineDir: string; carrierId: string } | 'retry' | 'itself' {
    let folder: { dir: string; own: boolean };
    try {
      folder = lineFolder(windowDir, line);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'retry';
      throw e;
    }
    // Moved away since it was made or listed (a release): looked for again. A symbolic link
    // planted there is not written into.
    const state = folderState(folder.dir);
    if (state === 'missing') return 'retry';
    if (state === 'other') return 'itself';
    const existing = this.readCarrier(path.join(folder.dir, CARRIER_FILE));
    let carrierId: string | null = existing === undefined ? null : (existing?.id ?? null);
    if (existing === undefined) {
      // Counted with another line's (past MAX_LINES_HELD lines) only on a carrier of its own.
      if (!folder.own) return 'itself';
      try {
        const candidate = made.underId ? randomUUID() : id;
        const madeId = this.makeCarrier(folder.dir, candidate, occurrence);
        if (madeId === undefined) return 'retry';
        carrierId = madeId;
        if (carrierId === id) made.underId = true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'retry';
        throw e;
      }
    }
    // No carrier to count on (its file does not open): this one goes as itself.
    if (carrierId === null) return 'itself';
    try {
      if (!createExclusive(path.join(folder.dir, `${carrierId}~${id}.n`))) return 'itself';
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'retry';
      throw e;
    }
    syncDirectory(folder.dir);
    return { lineDir: folder.dir, carrierId };
  }

  /** Whether the occurrence's file is in the line folder, and the folder's carrier its own. */
  private inPlace(lineDir: string, carrierId: string, id: string): boolean {
    try {
      return (
        fs.existsSync(path.join(lineDir, `${carrierId}~${id}.n`)) &&
        this.readCarrier(path.join(lineDir, CARRIER_FILE))?.id === carrierId
      );
    } catch {
      return false;
    }
  }

  /**
   * Queues the carriers of every window that has ended; with `flush`, also this process's
   * carriers, where their window has sent its group early fewer than `maxPerGroup` times.
   * `all` (close, exit) is no more than `due`: a window is every process's, not this one's.
   */
  drain(mode: DrainMode): void {
    this.releaseDue();
    if (mode !== 'flush') return;
    for (const [carrierId, { windowDir, lineDir }] of this.counted) {
      let early: boolean;
      try {
        if (this.readCarrier(path.join(lineDir, CARRIER_FILE))?.id !== carrierId) {
          this.counted.delete(carrierId); // released by another process (or ended): it is out
          continue;
        }
        early = takeSlot(windowDir, 'early', this.o.maxPerGroup);
      } catch {
        early = false; // the folder cannot be read now: the carrier waits for its window's end
      }
      if (!early) continue;
      const window = path.basename(windowDir);
      for (const line of folders(windowDir)) {
        if (!line.startsWith('line-')) continue;
        const claimed = path.join(this.o.storage.dir, `.line-${window}-${line}${this.owner()}`);
        if (renamed(path.join(windowDir, line), claimed)) this.releaseLine(claimed);
      }
      for (const [id, c] of this.counted) if (c.windowDir === windowDir) this.counted.delete(id);
    }
  }

  /**
   * After flush()'s drain: this process's carriers that wait for their window's end (their
   * group was sent early `maxPerGroup` times in it already), each said in a `flood_held`
   * diagnostic.
   */
  heldAfterFlush(): string[] {
    for (const [carrierId, { windowEnd }] of this.counted) {
      this.o.diagnostic({
        code: 'flood_held',
        message: `the report carrying this error's repeats (${carrierId}) was sent early ${this.o.maxPerGroup} times in this window already: it goes out with the first call after ${new Date(windowEnd).toISOString()}`,
        reportId: carrierId,
      });
    }
    return [...this.counted.keys()];
  }

  stillHeld(carrierIds: string[]): boolean {
    return carrierIds.some((id) => this.counted.has(id));
  }

  stop(): void {
    // no timers: a later process releases what is due
  }

  /** `~<pid>~<instance>~<now>`: this process's mark on a folder it releases. */
  private owner(): string {
    return `~${process.pid}~${this.instance}~${this.now()}`;
  }

  /**
   * Makes the line's carrier from this occurrence, under `carrierId`: its id, or the id of the
   * one a racing process made first. Null when that one does not open, or beforeSend dropped
   * this one; undefined when that one's folder moved away before it could be read (a release).
   */
  private makeCarrier(
    lineDir: string,
    carrierId: string,
    sample: HeldOccurrence,
  ): string | null | undefined {
    const report = this.o.makeCarrier(carrierId, sample);
    if (!report) return null;
    const file = path.join(lineDir, CARRIER_FILE);
    // Of two processes racing, one publishes its carrier: the other's is the line's.
    if (!publishOnce(this.o.storage.tmpDir, file, this.o.storage.seal(report))) {
      const winner = this.readCarrier(file);
      return winner === null ? null : winner?.id;
    }
    return carrierId;
  }

  /** The carrier in `file`: undefined when there is none, null when it does not open. */
  private readCarrier(file: string): Report | null | undefined {
    let bytes: Buffer | null;
    try {
      bytes = readSmallFile(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    return bytes ? this.o.storage.open(bytes) : null;
  }

  /**
   * Takes an occurrence's file (`<carrier>~<id>.n`) back from wherever it is: `taken` when it was
   * still uncounted, `counted` when its carrier's release counted it or will. Only the carrier's
   * own release counts it, and only in the carrier's folder: a file beside another carrier is
   * never counted, taken back or not. Nor is a counted file ever deleted before its carrier is
   * queued, so a file found nowhere (looked for three times, as folders move between listings)
   * was counted and its carrier queued.
   */
  private withdraw(carrierId: string, id: string): 'taken' | 'counted' {
    const held = `${carrierId}~${id}.n`;
    const counted = `${carrierId}~${id}.counted`;
    const { dir } = this.o.storage;
    for (let look = 0; look < 3; look++) {
      // The folders a line can be in: a window's, a window's being released, a line's sent early.
      const lineDirs = folders(dir).flatMap((name) =>
        EARLY_NAME.test(name)
          ? [path.join(dir, name)]
          : folders(path.join(dir, name)).map((line) => path.join(dir, name, line)),
      );
      for (const lineDir of lineDirs) {
        if (fs.existsSync(path.join(lineDir, counted))) return 'counted';
        if (!fs.existsSync(path.join(lineDir, held))) continue;
        let own: boolean;
        try {
          own = this.readCarrier(path.join(lineDir, CARRIER_FILE))?.id === carrierId;
        } catch {
          own = false;
        }
        try {
          fs.unlinkSync(path.join(lineDir, held));
          return 'taken';
        } catch (e) {
          // Counted this moment: looked for again. Locked (a virus scanner): beside its carrier
          // it is counted once the lock goes; beside another, never.
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return own ? 'counted' : 'taken';
        }
      }
    }
    return 'counted';
  }

  /** Releases what is due; never throws: a release's trouble must not cost a call its report. */
  private releaseDue(): void {
    try {
      this.releaseEnded();
    } catch {
      // left for a later call
    }
  }

  /** Releases every window past its end; takes over what dead releasers left. */
  private releaseEnded(): void {
    const now = this.now();
    const { dir } = this.o.storage;
    let stuck = false;
    for (const entry of entriesIn(dir)) {
      const found = entry.name;
      if (entry.isFile() && SENT_MARK.test(found)) {
        removeIfOlder(path.join(dir, found), SENT_MARK_MS);
        continue;
      }
      // Only real folders: a symbolic link named like one is not the queue's to walk.
      if (!entry.isDirectory()) continue;
      const early = EARLY_NAME.exec(found);
      if (early) {
        if (this.ownerGone(early[3], early[4], early[5], now)) {
          const claimed = path.join(dir, `.line-${early[1]}-${early[2]}${this.owner()}`);
          if (renamed(path.join(dir, found), claimed)) this.releaseLine(claimed);
        }
        continue;
      }
      const releasing = RELEASING_NAME.exec(found);
      // A window whose releaser died is released again, now.
      let name: string | null = found;
      if (releasing) {
        name = null;
        if (this.ownerGone(releasing[2], releasing[3], releasing[4], now)) {
          if (renamed(path.join(dir, found), path.join(dir, releasing[1]))) name = releasing[1];
        }
      }
      const m = name === null ? null : WINDOW_NAME.exec(name);
      if (!m) continue;
      const [, start, windowMs] = m[1].split('-').map(Number);
      // A window starting over a window ahead was made before the clock was set back.
      if (now < start + windowMs && start <= now + windowMs) continue;
      const claimed = path.join(dir, `.releasing-${m[1]}${this.owner()}`);
      try {
        fs.renameSync(path.join(dir, m[1]), claimed);
      } catch (e) {
        // Gone: another process has it. Anything else (a permission, a lock) holds its counts
        // until the folder can be changed: said once a call, as nothing else would show it.
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && !stuck) {
          stuck = true;
          this.o.diagnostic({
            code: 'flood_held',
            message: `the reports carrying an error loop's repeats could not be released from the queue dir's flood/ folder (${code ?? 'error'}): they stay counted there and go out with the first call that can`,
          });
        }
        continue;
      }
      let done = true;
      for (const line of folders(claimed)) {
        if (line.startsWith('line-')) done = this.releaseLine(path.join(claimed, line)) && done;
      }
      if (done) removeFolder(claimed, isHeld);
    }
  }

  /**
   * Counts a line's occurrences (each `.n` renamed to `.counted`: of this and a late occurrence
   * taking it back, one wins) and queues its carrier with the count, on disk; then the folder
   * goes. False, leaving it for a later process, when a file could not be counted or the
   * carrier not queued (a lock, a full disk). A file made after the count (by an occurrence
   * that will take it back) keeps the folder, for a later look to remove.
   */
  private releaseLine(lineDir: string): boolean {
    try {
      const carrier = this.readCarrier(path.join(lineDir, CARRIER_FILE));
      let count = 0;
      let uncountable = 0;
      for (const entry of entriesIn(lineDir)) {
        if (!entry.isFile()) continue;
        const file = path.join(lineDir, entry.name);
        const held = HELD.exec(entry.name);
        const counted = COUNTED.exec(entry.name);
        if (counted && counted[1] === carrier?.id) count++;
        else if (held && held[1] === carrier?.id) {
          try {
            fs.renameSync(file, path.join(lineDir, `${held[1]}~${held[2]}.counted`));
            count++;
          } catch (e) {
            // Gone: taken back by its occurrence, which goes as itself. Anything else is a lock
            // or a fault of the moment: counted later, by whoever looks next.
            if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return false;
          }
        } else if (held || counted) {
          // One whose carrier does not open cannot be counted (said below). Another carrier's
          // (its folder was replaced under its maker, who takes it back), or one left beside a
          // carrier released already: left a while for its maker, then removed, not counted.
          if (carrier === null) {
            // Said once, below: the folder then goes.
            uncountable++;
            fs.rmSync(file, { force: true });
          } else removeIfOlder(file, STRAY_MS);
        }
      }
      if (uncountable > 0) {
        this.o.diagnostic({
          code: 'queue_corrupt',
          message: `the report carrying ${uncountable} held-back occurrences could not be read; they are not sent`,
        });
      }
      if (carrier && count > 0) {
        const mark = path.join(this.o.storage.dir, `.sent-${carrier.id}`);
        if (!fs.existsSync(mark)) {
          try {
            this.o.storage.add(withRepeats(carrier, count - 1));
          } catch (e) {
            // A full disk, a permission: the carrier stays here, counted, for a later call.
            const code = (e as NodeJS.ErrnoException).code ?? 'error';
            this.o.diagnostic({
              code: 'flood_held',
              message: `the report carrying this error's repeats (${carrier.id}) could not be queued (${code}): it stays counted in the queue dir's flood/ folder and goes out with a later call`,
              reportId: carrier.id,
            });
            return false;
          }
          this.released++;
          try {
            fs.closeSync(fs.openSync(mark, 'w', 0o600));
          } catch {
            // unmarked: a release done again queues it again, and the collector keeps one
          }
        }
      }
      removeFolder(lineDir, isHeld);
      return true;
    } catch {
      // Left as it is: taken over and released again once this process is gone.
      return false;
    }
  }

  /** Whether a folder's releaser is gone (or has held it implausibly long). */
  private ownerGone(pid: string, instance: string, since: string, now: number): boolean {
    const alive =
      Number(pid) === process.pid ? startedWithThisProcess(instance) : isProcessAlive(Number(pid));
    return !alive || Math.abs(now - Number(since)) >= STALE_RELEASE_MS;
  }
}
