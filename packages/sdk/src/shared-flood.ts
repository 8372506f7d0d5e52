import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isProcessAlive, type Report } from '@jcs/protocol';
import type { DiagnosticSink } from './diagnostics';
import { MAX_LINES_HELD } from './flood';
import { withRepeats, type FloodDecision, type HeldOccurrence } from './flood-carriers';
import { syncDirectory } from './queue/fsync';
import { namesIn, readSmallFile, tempPath } from './queue/queue-files';
import { startedWithThisProcess, QueueNames } from './queue/queue-names';
import type { FloodStorage } from './queue/types';

/**
 * A window may be released this long after its end: an occurrence that read the clock inside the
 * window has had time to be counted in it. One that takes longer withdraws (see `admit`).
 */
export const RELEASE_GRACE_MS = 5_000;

/** `<group hash>-<window start ms>-<window ms>`: a window's folder. */
const WINDOW_NAME = /^([0-9a-f]{16})-(\d{1,15})-(\d{1,12})$/;
/** A window being released: `.releasing-<window>~<pid>~<instance>~<since ms>`. */
const RELEASING_NAME =
  /^\.releasing-([0-9a-f]{16}-\d{1,15}-\d{1,12})~(\d+)~([0-9a-f]+)~(\d{1,15})$/;
/** A release takes milliseconds: one this old is taken back even from a live pid (reused). */
const STALE_RELEASE_MS = 10 * 60 * 1000;
const CARRIER_FILE = 'carrier.sealed';
/** One file per held-back occurrence, named by its id: `.n` until the releaser counts it. */
const HELD = '.n';
const COUNTED = '.counted';

export interface SharedFloodOptions {
  maxPerGroup: number;
  windowMs: number;
  /** the app the groups are of (the collector groups by app, number, module and procedure) */
  app: string;
  storage: FloodStorage;
  diagnostic: DiagnosticSink;
  /** The carrier of a held-back occurrence, as the hooks leave it (null: beforeSend dropped it). */
  makeCarrier(carrierId: string, sample: HeldOccurrence): Report | null;
  /** Queues a released carrier. */
  store(report: Report): void;
  /** injectable for tests: the wall clock, which every process on the machine shares */
  now?: () => number;
}

/**
 * Flood control across processes sharing a queue dir, for `jcs-report`: each call is a process
 * of its own, so a host's error loop would otherwise send every error. The windows are on disk,
 * aligned to the clock (`floor(now / windowMs)`), so every process agrees on them without a lock:
 *
 * - the first `maxPerGroup` occurrences of a group in a window each take a `sent-<i>` file
 *   (created exclusively: of two racing processes one gets it) and go out as themselves;
 * - the rest are held back by line, as in one process (up to MAX_LINES_HELD lines a window): the
 *   first makes the line's carrier (linked in whole, so of two racing carriers one wins, and both
 *   answer with its id), and each leaves a file named by its own id: the count is the number of
 *   files, so no increment is ever lost to a race;
 * - the first process to look after the window's end (and RELEASE_GRACE_MS) renames the window's
 *   folder (one wins), counts each file by renaming it, and queues each carrier with its count.
 *   A releaser that dies leaves its folder for the next to take back; a carrier queued twice
 *   has one id, which the collector stores once.
 *
 * A held-back occurrence therefore goes out with the first call after its window ends, which may
 * be much later: it is counted, never lost. Any file-system failure before an occurrence is
 * counted lets it go out as itself.
 *
 * @example
 * const decision = sharedFlood.admit(id, { occurredAt, error });
 * if (decision.held) return decision.carrierId; // counted; a later call sends the carrier
 */
export class SharedFloodControl {
  private readonly now: () => number;
  private readonly instance = new QueueNames().instance;

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
    let lineDir: string;
    let carrierId: string | null = null;
    // Going out as itself once this occurrence's id is a carrier's: under a new id, as the
    // carrier may yet go out under this one with others' counts.
    const asItself = (): FloodDecision =>
      carrierId === id ? { ...sent, reportId: randomUUID() } : sent;
    try {
      fs.mkdirSync(windowDir, { recursive: true, mode: 0o700 });
      for (let i = 1; i <= maxPerGroup; i++) {
        if (createExclusive(path.join(windowDir, `sent-${i}`))) return sent;
      }
      lineDir = lineFolder(windowDir, String(error.line));
      carrierId = this.carrier(lineDir, id, occurrence);
      // No carrier to count on (its file does not open): this one goes as itself.
      if (carrierId === null || !createExclusive(path.join(lineDir, id + HELD))) return asItself();
    } catch {
      return asItself();
    }
    syncDirectory(lineDir);
    // Counted after the window ended (this process was held up): a releaser may have come and
    // gone. Whichever of it and this process renames the file first has it.
    if (this.now() >= start + windowMs && this.withdraw(windowDir, lineDir, id)) return asItself();
    this.o.diagnostic({
      code: 'rate_limited',
      message: `more than ${maxPerGroup} reports of this error within ${windowMs} ms (across jcs-report calls): it is counted in repeats on report ${carrierId}, which goes out with the first call after ${new Date(start + windowMs + RELEASE_GRACE_MS).toISOString()}`,
      reportId: carrierId,
    });
    return { held: true, carrierId };
  }

  /** Queues the carriers of every window that has ended, whatever the mode. */
  drain(): void {
    this.releaseDue();
  }

  /** A window is not this process's to end early: nothing is held for flush() to answer for. */
  heldAfterFlush(): string[] {
    return [];
  }

  stillHeld(): boolean {
    return false;
  }

  stop(): void {
    // no timers: a later process releases what is due
  }

  /**
   * The line's carrier id: its file's, or this occurrence's when it is the line's first held
   * back. Null when the carrier file there does not open (another queue key), or beforeSend
   * dropped the carrier.
   */
  private carrier(lineDir: string, id: string, occurrence: HeldOccurrence): string | null {
    const file = path.join(lineDir, CARRIER_FILE);
    const existing = this.readCarrier(file);
    if (existing !== undefined) return existing?.id ?? null;
    const report = this.o.makeCarrier(id, occurrence);
    if (!report) return null;
    const tmp = tempPath(this.o.storage.tmpDir, 'tmp');
    try {
      fs.writeFileSync(tmp, this.o.storage.seal(report), { mode: 0o600, flag: 'wx' });
      const fd = fs.openSync(tmp, 'r');
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      // A link fails where the name exists: the racing process's carrier is the line's.
      fs.linkSync(tmp, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      return this.readCarrier(file)?.id ?? null;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    return id;
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
   * Takes this occurrence's file back from a window counted late: true when it was still
   * uncounted (it then goes as itself), false when a releaser counted it first.
   */
  private withdraw(windowDir: string, lineDir: string, id: string): boolean {
    const line = path.basename(lineDir);
    const window = path.basename(windowDir);
    const places = [
      lineDir,
      ...namesIn(this.o.storage.dir)
        .filter((name) => RELEASING_NAME.exec(name)?.[1] === window)
        .map((name) => path.join(this.o.storage.dir, name, line)),
    ];
    for (const dir of places) {
      try {
        fs.unlinkSync(path.join(dir, id + HELD));
        return true;
      } catch {
        // not there, or counted
      }
    }
    return false;
  }

  /** Releases every window past its end and grace; takes back what dead releasers left. */
  private releaseDue(): void {
    const now = this.now();
    const { dir } = this.o.storage;
    for (const found of namesIn(dir)) {
      const releasing = RELEASING_NAME.exec(found);
      // A window whose releaser died is released again, now.
      const name = releasing ? this.takeBack(found, releasing, now) : found;
      const m = name === null ? null : WINDOW_NAME.exec(name);
      if (!m) continue;
      const window = m[0];
      const [start, windowMs] = [Number(m[2]), Number(m[3])];
      // A window starting over a window ahead was made before the clock was set back.
      if (now < start + windowMs + RELEASE_GRACE_MS && start <= now + windowMs) continue;
      const claimed = path.join(dir, `.releasing-${window}~${process.pid}~${this.instance}~${now}`);
      try {
        fs.renameSync(path.join(dir, window), claimed);
      } catch {
        continue; // another process is releasing it
      }
      try {
        this.release(claimed);
      } catch {
        // Left as it is: taken back and released again once this process is gone.
      }
    }
  }

  /** Counts each line's occurrences and queues its carrier; then the window is gone. */
  private release(windowDir: string): void {
    for (const line of namesIn(windowDir)) {
      if (!line.startsWith('line-')) continue;
      const lineDir = path.join(windowDir, line);
      let count = 0;
      for (const name of namesIn(lineDir)) {
        if (name.endsWith(COUNTED)) count++;
        else if (name.endsWith(HELD)) {
          const counted = path.join(lineDir, name.slice(0, -HELD.length) + COUNTED);
          try {
            fs.renameSync(path.join(lineDir, name), counted);
            count++;
          } catch {
            // withdrawn by its process, which sends it as itself
          }
        }
      }
      const carrier = count > 0 ? this.readCarrier(path.join(lineDir, CARRIER_FILE)) : undefined;
      if (count > 0 && !carrier) {
        this.o.diagnostic({
          code: 'queue_corrupt',
          message: `the report carrying ${count} held-back occurrences could not be read; they are not sent`,
        });
      }
      if (carrier) this.o.store(withRepeats(carrier, count - 1));
      fs.rmSync(lineDir, { recursive: true, force: true });
    }
    fs.rmSync(windowDir, { recursive: true, force: true });
  }

  /** A window whose releaser died goes back, to be released again: its name, or null. */
  private takeBack(name: string, m: RegExpExecArray, now: number): string | null {
    const pid = Number(m[2]);
    const alive = pid === process.pid ? startedWithThisProcess(m[3]) : isProcessAlive(pid);
    if (alive && Math.abs(now - Number(m[4])) < STALE_RELEASE_MS) return null;
    try {
      fs.renameSync(path.join(this.o.storage.dir, name), path.join(this.o.storage.dir, m[1]));
      return m[1];
    } catch {
      return null; // another process took it back first
    }
  }
}

/** Creates an empty file only where none is: true when this call made it. */
function createExclusive(file: string): boolean {
  try {
    fs.closeSync(fs.openSync(file, 'wx', 0o600));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/**
 * The folder a line's held-back occurrences are counted in: its own, or, past MAX_LINES_HELD
 * lines in the window, the first line's by name (every process picks the same).
 */
function lineFolder(windowDir: string, line: string): string {
  const own = path.join(windowDir, `line-${line}`);
  if (fs.existsSync(own)) return own;
  const lines = namesIn(windowDir)
    .filter((name) => name.startsWith('line-'))
    .sort();
  if (lines.length >= MAX_LINES_HELD) return path.join(windowDir, lines[0]);
  fs.mkdirSync(own, { recursive: true, mode: 0o700 });
  return own;
}
