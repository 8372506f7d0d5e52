import type { Report } from '@jcs/protocol';
import type { ClaimedReport, FloodStorage, ReportQueue } from './types';

/**
 * After a write to disk failed, how long the reports held in memory wait to be tried there again
 * at a look for the next to send (a report written to disk meanwhile tries them at once).
 */
const DISK_RETRY_MS = 10_000;
/** How many reports held in memory go to disk at one add or one look: `report()` stays quick. */
const MOVE_AT_ONCE = 8;

/**
 * The disk queue, backed by memory when a write fails (disk full, permissions pulled from under
 * us, a lock that outlasted the retries): a report that cannot be stored durably is still sent
 * this run rather than lost, and `report()` still never throws. What memory holds goes to disk
 * once the disk takes a report again (after the next report written there, at a look for the
 * next to send 10 s after a failure, and at `close()`), so a crash or an offline close after the
 * disk came back does not lose it.
 */
export class FallbackQueue implements ReportQueue {
  readonly durable = true;
  /** no report held in memory is tried on disk before this (ms since the epoch) */
  private diskRetryAt = 0;

  constructor(
    private readonly primary: ReportQueue,
    private readonly fallback: ReportQueue,
    private readonly onWriteFailed: (reportId: string, error: unknown) => void,
  ) {}

  add(report: Report): void {
    try {
      this.primary.add(report);
    } catch (error) {
      this.onWriteFailed(report.id, error);
      this.fallback.add(report);
      this.diskRetryAt = Date.now() + DISK_RETRY_MS;
      return;
    }
    this.moveToDisk(MOVE_AT_ONCE);
  }

  claimNext(): ClaimedReport | null {
    if (Date.now() >= this.diskRetryAt) this.moveToDisk(MOVE_AT_ONCE);
    const fromDisk = this.primary.claimNext();
    if (fromDisk) return { key: `d:${fromDisk.key}`, report: fromDisk.report };
    const fromMemory = this.fallback.claimNext();
    return fromMemory ? { key: `m:${fromMemory.key}`, report: fromMemory.report } : null;
  }

  release(key: string, toBack = false): void {
    this.route(key, (q, k) => q.release(k, toBack));
  }

  replace(key: string, report: Report): void {
    this.route(key, (q, k) => q.replace(k, report));
  }

  remove(key: string): void {
    this.route(key, (q, k) => q.remove(k));
  }

  /** On disk only: a report that cannot be held on disk is kept by the caller, in memory. */
  hold(report: Report): string {
    if (!this.primary.hold) throw new Error('the queue cannot hold reports');
    return `d:${this.primary.hold(report)}`;
  }

  rewriteHeld(key: string, report: Report): boolean {
    return this.primary.rewriteHeld?.(key.slice(2), report) ?? false;
  }

  commitHeld(key: string, report: Report): void {
    try {
      if (this.primary.commitHeld) this.primary.commitHeld(key.slice(2), report);
      else this.primary.add(report);
    } catch (error) {
      this.onWriteFailed(report.id, error);
      this.fallback.add(report);
      this.diskRetryAt = Date.now() + DISK_RETRY_MS;
    }
  }

  recoverClaims(): void {
    this.primary.recoverClaims?.();
  }

  floodStorage(): FloodStorage | undefined {
    return this.primary.floodStorage?.();
  }

  size(): number {
    return this.primary.size() + this.fallback.size();
  }

  holds(reportId: string): boolean {
    return this.primary.holds(reportId) || this.fallback.holds(reportId);
  }

  /** The last chance for what memory holds: all of it goes to disk where the disk takes it. */
  close(): void {
    this.primary.close();
    this.fallback.close();
    this.moveToDisk(Infinity);
  }

  waitUntil(): number {
    return this.primary.waitUntil?.() ?? 0;
  }

  setWaitUntil(atMs: number): void {
    this.primary.setWaitUntil?.(atMs);
  }

  clearWaitUntil(nowMs: number, credibleMs?: number): void {
    this.primary.clearWaitUntil?.(nowMs, credibleMs);
  }

  /**
   * Moves up to `limit` reports held in memory to disk, oldest first (behind those there, as
   * they were sent after them), stopping at the first the disk refuses. One being sent stays.
   */
  private moveToDisk(limit: number): void {
    for (let moved = 0; moved < limit && this.fallback.size() > 0; moved++) {
      const held = this.fallback.claimNext();
      if (!held) return;
      try {
        this.primary.add(held.report);
      } catch {
        this.fallback.release(held.key);
        this.diskRetryAt = Date.now() + DISK_RETRY_MS;
        return;
      }
      this.fallback.remove(held.key);
    }
  }

  private route(key: string, f: (queue: ReportQueue, key: string) => void): void {
    f(key.startsWith('d:') ? this.primary : this.fallback, key.slice(2));
  }
}
