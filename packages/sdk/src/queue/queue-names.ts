import { randomBytes } from 'node:crypto';

// The queue's file names carry what it needs to know without opening a file.
//
// A pending report is `<time ms>-<seq>-<id>-<bytes>.sealed`: the name sorts oldest first and
// carries the size of the sealed file, so the queue's bounds are checked from one directory
// listing. `.json` is what versions before sealing wrote: plaintext, read and sealed again at
// start.
//
// A claim is `<pending name>~<pid>~<instance>~<claimed at ms>`: whose it is and since when.
const PENDING_NAME = /^(\d{13})-(\d{6})-([0-9a-f-]{36})-(\d{1,9})\.(?:sealed|json)$/;
const SIZE_SUFFIX = /-\d{1,9}\.(?:sealed|json)$/;
const CLAIM_NAME = /^(.+\.(?:sealed|json))~(\d+)~([0-9a-f]+)~(\d{13})$/;

/** A pending file, as its name tells it. */
export interface PendingFile {
  name: string;
  id: string;
  bytes: number;
}

/** A claim, as its name tells it. */
export interface Claim {
  pendingName: string;
  pid: number;
  instance: string;
  claimedAt: number;
}

/** The pending file a name stands for; null when the name is not one. */
export function parsePendingName(name: string): PendingFile | null {
  const m = PENDING_NAME.exec(name);
  return m ? { name, id: m[3], bytes: Number(m[4]) } : null;
}

/** The claim a name stands for; null when the name is not one. */
export function parseClaimName(name: string): Claim | null {
  const m = CLAIM_NAME.exec(name);
  if (!m) return null;
  return { pendingName: m[1], pid: Number(m[2]), instance: m[3], claimedAt: Number(m[4]) };
}

/** A pending name with the size of the sealed file it now holds. */
export function withSize(pendingName: string, bytes: number): string {
  return pendingName.replace(SIZE_SUFFIX, `-${bytes}.sealed`);
}

/** Makes the names of one queue instance's new files. */
export class QueueNames {
  /**
   * When this process started (hex ms, the same in every thread), then random: a claim under
   * this process's own pid but another start time is a dead process's whose pid came round again
   * (a sandbox that starts every app as the same pid does so every time).
   */
  readonly instance = PROCESS_START_HEX + randomBytes(4).toString('hex');
  private seq = 0;

  /** `<time ms>-<seq>-<id>-<bytes>.sealed`, for a new file. */
  pending(reportId: string, bytes: number): string {
    return `${this.stamp(Date.now())}-${reportId}-${bytes}.sealed`;
  }

  /** `pendingName` with a time and sequence of now: it sorts after every report waiting. */
  renewed(pendingName: string): string {
    const m = PENDING_NAME.exec(pendingName);
    if (!m) return pendingName;
    return `${this.stamp(Math.max(Date.now(), Number(m[1])))}${pendingName.slice(20)}`;
  }

  /** The name of a claim on `pendingName` by this instance, now. */
  claim(pendingName: string): string {
    return `${pendingName}~${process.pid}~${this.instance}~${pad13(Date.now())}`;
  }

  private stamp(ms: number): string {
    this.seq = (this.seq + 1) % 1_000_000;
    return `${pad13(ms)}-${String(this.seq).padStart(6, '0')}`;
  }
}

function pad13(ms: number): string {
  return String(ms).padStart(13, '0');
}

/** This process's start, read once (the clock may be set later), in ms since the epoch. */
const PROCESS_START = Math.round(Date.now() - process.uptime() * 1000);
/** PROCESS_START as claims carry it: 12 hex digits. */
const PROCESS_START_HEX = PROCESS_START.toString(16).padStart(12, '0');

/**
 * Whether a claim's instance started with this process (another thread's queue included) rather
 * than with a dead process that had the same pid. A claim of an SDK version before the start
 * time was kept (8 hex digits) is a dead process's: this one makes none such.
 */
export function startedWithThisProcess(instance: string): boolean {
  if (instance.length !== 20) return false;
  // Each thread reads the start from its clock minus the process's uptime: milliseconds apart.
  return Math.abs(parseInt(instance.slice(0, 12), 16) - PROCESS_START) < 2_000;
}
