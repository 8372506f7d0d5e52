import type { Report } from '@jcs/protocol';
import { withoutDump } from '../without-dump';
import {
  SHED_DUMP_MIN_BYTES,
  type ClaimedReport,
  type DumpShedHandler,
  type OverflowHandler,
  type QueueBounds,
  type ReportQueue,
} from './types';

interface Entry {
  key: string;
  report: Report;
  bytes: number;
  claimed: boolean;
}

/**
 * The queue when no `queueDir` is given: bounded like the disk queue, so memory stays flat however
 * long the collector is down, but lost with the process.
 */
export class MemoryQueue implements ReportQueue {
  readonly durable = false;
  private entries: Entry[] = [];
  private bytes = 0;
  private seq = 0;

  constructor(
    private readonly bounds: QueueBounds,
    private readonly onOverflow: OverflowHandler,
    private readonly onDumpShed?: DumpShedHandler,
  ) {}

  add(report: Report): void {
    const bytes = approximateSize(report);
    this.shedDumps(bytes);
    while (
      this.entries.length > 0 &&
      (this.entries.length + 1 > this.bounds.maxReports ||
        this.bytes + bytes > this.bounds.maxBytes)
    ) {
      const victim = this.entries.findIndex((e) => !e.claimed);
      if (victim < 0) break;
      const [dropped] = this.entries.splice(victim, 1);
      this.bytes -= dropped.bytes;
      this.onOverflow(dropped.report.id);
    }
    this.entries.push({ key: String(++this.seq), report, bytes, claimed: false });
    this.bytes += bytes;
  }

  /**
   * Over the byte bound, the oldest reports of SHED_DUMP_MIN_BYTES or more go without their dumps
   * before any goes whole: the same reports as the disk queue's (which opens no smaller one).
   */
  private shedDumps(incomingBytes: number): void {
    for (const entry of this.entries) {
      if (this.bytes + incomingBytes <= this.bounds.maxBytes) return;
      if (entry.claimed || entry.report.dump === undefined) continue;
      if (entry.bytes < SHED_DUMP_MIN_BYTES) continue;
      this.replace(entry.key, withoutDump(entry.report));
      this.onDumpShed?.(entry.report.id);
    }
  }

  claimNext(): ClaimedReport | null {
    const entry = this.entries.find((e) => !e.claimed);
    if (!entry) return null;
    entry.claimed = true;
    return { key: entry.key, report: entry.report };
  }

  release(key: string, toBack = false): void {
    const entry = this.find(key);
    if (!entry) return;
    entry.claimed = false;
    if (toBack) {
      this.entries.splice(this.entries.indexOf(entry), 1);
      this.entries.push(entry);
    }
  }

  replace(key: string, report: Report): void {
    const entry = this.find(key);
    if (!entry) return;
    const bytes = approximateSize(report);
    this.bytes += bytes - entry.bytes;
    entry.bytes = bytes;
    entry.report = report;
    entry.claimed = false;
  }

  remove(key: string): void {
    const i = this.entries.findIndex((e) => e.key === key);
    if (i < 0) return;
    this.bytes -= this.entries[i].bytes;
    this.entries.splice(i, 1);
  }

  size(): number {
    return this.entries.length;
  }

  holds(reportId: string): boolean {
    return this.entries.some((e) => e.report.id === reportId);
  }

  close(): void {
    for (const e of this.entries) e.claimed = false;
  }

  private find(key: string): Entry | undefined {
    return this.entries.find((e) => e.key === key);
  }
}

/**
 * About the memory a queued report holds, from its variable-length parts: measuring by
 * serialising every report would cost more than the rest of `report()` put together.
 */
function approximateSize(report: Report): number {
  const e = report.error;
  let n = 200 + e.description.length + e.module.length + e.procedure.length;
  n += (e.code?.length ?? 0) + (report.username?.length ?? 0) + report.license.length;
  if (report.dump) n += 120 + report.dump.ciphertext.length + report.dump.keyId.length;
  return n;
}
