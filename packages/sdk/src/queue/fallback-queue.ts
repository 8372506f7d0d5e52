import type { Report } from '@jcs/protocol';
import type { ClaimedReport, FloodStorage, ReportQueue } from './types';

/**
 * The disk queue, backed by memory when a write fails (disk full, permissions pulled from under
 * us): a report that cannot be stored durably is still sent this run rather than lost, and
 * `report()` still never throws.
 */
export class FallbackQueue implements ReportQueue {
  readonly durable = true;

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
    }
  }

  claimNext(): ClaimedReport | null {
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

  close(): void {
    this.primary.close();
    this.fallback.close();
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

  private route(key: string, f: (queue: ReportQueue, key: string) => void): void {
    f(key.startsWith('d:') ? this.primary : this.fallback, key.slice(2));
  }
}
