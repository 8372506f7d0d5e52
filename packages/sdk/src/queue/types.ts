import type { Report } from '@jcs/protocol';

/** A report taken from the queue for one delivery attempt. */
export interface ClaimedReport {
  /** the queue's handle for it; pass back to release, replace or remove */
  key: string;
  report: Report;
}

/**
 * Where reports wait for delivery. `add` is synchronous: a report is stored before `report()`
 * returns. `claimNext` hands out each report to one sender at a time, across processes for the
 * disk queue.
 */
export interface ReportQueue {
  /** true when reports survive the process */
  readonly durable: boolean;
  /** Stores the report, dropping the oldest (with a diagnostic) beyond the bounds. Throws on I/O failure. */
  add(report: Report): void;
  /** The oldest report nobody is sending, now claimed by this process; null when none. */
  claimNext(): ClaimedReport | null;
  /**
   * Puts a claimed report back, to be tried again: where it was, or with `toBack` behind every
   * report waiting now (it failed: one report the collector keeps failing must not hold up the
   * others).
   */
  release(key: string, toBack?: boolean): void;
  /** Rewrites a claimed report (e.g. without its dump) and puts it back. */
  replace(key: string, report: Report): void;
  /** Deletes a claimed report: delivered, or refused for good. */
  remove(key: string): void;
  /** Reports waiting or claimed by this process. */
  size(): number;
  /**
   * Whether the report is in the queue, waiting or claimed by any process sharing it: once
   * queued, gone and not dropped means delivered (by this process or another). A flood-control
   * carrier still held in memory is not queued yet.
   */
  holds(reportId: string): boolean;
  /** Puts back whatever this process still holds. */
  close(): void;
  /**
   * Durable queues only: when the collector's last Retry-After ends (ms since the epoch; 0 when
   * none), so that the next process waits too instead of asking again at once.
   */
  waitUntil?(): number;
  /** Durable queues only: keeps `waitUntil` for the next process. Never throws. */
  setWaitUntil?(atMs: number): void;
  /**
   * Durable queues only: forgets a kept wait that ended by `nowMs`, or that ends more than
   * `credibleMs` after it (kept before the clock was set back); one that runs later within that
   * (another process sharing the dir was told to wait since) stays. Never throws.
   */
  clearWaitUntil?(nowMs: number, credibleMs?: number): void;
  /**
   * Durable queues only: stores a report this process holds back from sending (a flood-control
   * carrier whose count is still growing), so it survives the process dying in any way; no other
   * process sends it while this one lives. Returns its key for `rewriteHeld` and `commitHeld`.
   * Throws on I/O failure.
   */
  hold?(report: Report): string;
  /**
   * Rewrites a held report in place (its count grew). False when the file is gone (taken back as
   * stale, removed by hand): the caller then commits with `add`. Throws on I/O failure (a lock, a
   * full disk), the report still held as last written: the caller tries again later.
   */
  rewriteHeld?(key: string, report: Report): boolean;
  /**
   * Writes the held report's final form and hands it to the senders, as `add` would. Where the
   * disk refuses it now, the queue keeps it held and tries again at later looks, never writing a
   * second copy (counted by `size()` meanwhile).
   */
  commitHeld?(key: string, report: Report): void;
  /**
   * Durable queues only: takes back at once what processes that have died left claimed, rather
   * than at the next look (every 30 s while sending). Never throws.
   */
  recoverClaims?(): void;
  /** Durable queues only: where flood control across processes keeps its windows. */
  floodStorage?(): FloodStorage | undefined;
}

/**
 * What flood control across processes (shared-flood.ts) keeps beside the queue: a folder of its
 * own, and carrier reports sealed under the queue's key as every queued report is.
 */
export interface FloodStorage {
  /** the folder the windows are kept in (`flood/` in the queue dir) */
  dir: string;
  /** the queue's folder for files being written, which it clears of dead processes' leftovers */
  tmpDir: string;
  /** the report as a sealed file's bytes */
  seal(report: Report): Uint8Array;
  /** a sealed file's report; null when it does not open or is not a report */
  open(bytes: Buffer): Report | null;
  /** queues a report on disk (never in memory: a release that cannot write waits); throws */
  add(report: Report): void;
}

export interface QueueBounds {
  maxReports: number;
  maxBytes: number;
}

export type OverflowHandler = (reportId: string) => void;

/**
 * A full queue keeps reports over dumps: before it drops a whole report for room, it sends the
 * oldest large ones without their dumps (`dumpWithheld: "too-large"`), and says so with this.
 */
export type DumpShedHandler = (reportId: string) => void;

/**
 * The smallest queued report a full queue sheds the dump of, on disk and in memory alike: a
 * smaller one holds no dump worth the room, or none (reports without dumps are a few KiB in
 * practice, at most some 50), and the disk queue would open it for nothing.
 */
export const SHED_DUMP_MIN_BYTES = 16 * 1024;

/**
 * At most this many reports are opened to shed their dumps for one report added. Those the queue
 * knows hold none (it wrote them so, or opened them once already) are passed by, not counted.
 */
export const SHED_DUMP_MAX_TRIES = 16;
