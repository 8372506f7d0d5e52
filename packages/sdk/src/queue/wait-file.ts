import fs from 'node:fs';
import path from 'node:path';
import { writeAtomic } from './queue-files';

/** The end of the collector's last Retry-After, kept beside the queue for the next process. */
const WAIT_FILE = 'retry-after';

/**
 * The collector's last `Retry-After`, kept in the queue dir so that a process started while it
 * runs (an app opened again, `jcs-report` run for the next error) waits too rather than sends at
 * once. A courtesy only: every call here never throws, and the process that was told still waits.
 *
 * @example
 * const wait = new WaitFile(queueDir, tmpDir);
 * wait.set(Date.now() + 60_000);
 * wait.until(); // ms since the epoch; 0 when there is no wait
 */
export class WaitFile {
  private readonly file: string;

  constructor(
    dir: string,
    private readonly tmpDir: string,
  ) {
    this.file = path.join(dir, WAIT_FILE);
  }

  /** When the wait ends (ms since the epoch); 0 when none is kept, or the file is not a time. */
  until(): number {
    try {
      const at = Number(fs.readFileSync(this.file, 'utf8'));
      return Number.isSafeInteger(at) && at > 0 ? at : 0;
    } catch {
      return 0;
    }
  }

  set(atMs: number): void {
    try {
      writeAtomic(this.tmpDir, this.file, Buffer.from(String(Math.round(atMs))));
    } catch {
      // Only a courtesy to the collector: this process still waits.
    }
  }

  /**
   * Forgets a wait that ended by `nowMs`, or that ends more than `credibleMs` after it (kept
   * before the clock was set back); one that runs later within that (another process sharing the
   * dir was told to wait since) stays.
   */
  clear(nowMs: number, credibleMs = Infinity): void {
    const until = this.until();
    if (until > nowMs && until - nowMs <= credibleMs) return;
    try {
      fs.rmSync(this.file, { force: true });
    } catch {
      // left for the next process, which finds it over
    }
  }
}
