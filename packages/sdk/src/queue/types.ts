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
  /** Puts a claimed report back, to be tried again. */
  release(key: string): void;
  /** Rewrites a claimed report (e.g. without its dump) and puts it back. */
  replace(key: string, report: Report): void;
  /** Deletes a claimed report: delivered, or refused for good. */
  remove(key: string): void;
  /** Reports waiting or claimed by this process. */
  size(): number;
  /** Puts back whatever this process still holds. */
  close(): void;
}

export interface QueueBounds {
  maxReports: number;
  maxBytes: number;
}

export type OverflowHandler = (reportId: string) => void;
