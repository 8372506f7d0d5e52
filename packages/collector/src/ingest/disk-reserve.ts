import fs from 'node:fs';
import { ApiError } from '@jcs/protocol';
import type { Logger } from '../log';

/** Seconds a client is told to wait while the disk is short of space: freeing it takes a person. */
export const DISK_RETRY_AFTER_S = 60;

/** How long a reading of the free space is used before it is taken again. */
const RECHECK_MS = 250;

/** How often, at most, the refusals are logged while they go on. */
const REMIND_MS = 60_000;

const MIB = 1024 * 1024;

/**
 * How much free space `serve --min-free-disk` keeps: bytes, or a percentage of the data dir's
 * file system. The default is 64 MiB, but never more than 2% of the file system, so that a small
 * disk (a 32 MiB tmpfs) is not refused from the start.
 */
export type FreeSpaceRule = { bytes: number; atMostPercent?: number } | { percent: number };

export const DEFAULT_FREE_SPACE: FreeSpaceRule = { bytes: 64 * MIB, atMostPercent: 2 };

/** What statfs says of a file system, in the units Node gives. */
export interface DiskSpace {
  bavail: number;
  blocks: number;
  bsize: number;
}

export interface DiskReserveOptions {
  /** the data dir: its file system is the one watched */
  dir: string;
  rule: FreeSpaceRule;
  log: Logger;
  /** tests of the timing pass their own; the real one is `fs.statfsSync` */
  statfs?: (dir: string) => DiskSpace;
  /** monotonic milliseconds */
  now?: () => number;
}

/**
 * Keeps room on the data dir's disk for what must still work when reports fill it: erasure,
 * expiry, triage changes and their access-log entries. While the free space is under the reserve,
 * reports are refused with 503 `unavailable` and a Retry-After of a minute, before their bodies
 * are read; senders keep them queued and send them again, so nothing is lost. Without it, a flood
 * of large reports filled the disk at some 35 MB/s from one address, and then erasure failed too.
 *
 * The free space is read with statfs at most every 250 ms, so a check costs nothing measurable.
 *
 * @example
 * const reserve = new DiskReserve({ dir: dataDir, rule: DEFAULT_FREE_SPACE, log });
 * reserve.check(); // throws 503 unavailable while the disk is short
 */
export class DiskReserve {
  /** the reserve in bytes, resolved against the file system's size at start */
  readonly minFreeBytes: number;
  private readonly statfs: (dir: string) => DiskSpace;
  private readonly now: () => number;
  private readAt = -Infinity;
  private free: number | undefined;
  private short = false;
  private refusedSinceSaid = 0;
  private saidAt = -Infinity;
  private readFailedAt = -Infinity;

  constructor(private readonly options: DiskReserveOptions) {
    this.statfs = options.statfs ?? ((dir) => fs.statfsSync(dir));
    this.now = options.now ?? (() => performance.now());
    let space: DiskSpace | undefined;
    try {
      space = this.statfs(options.dir);
    } catch {
      // Said by the first check's reading, which fails the same way.
    }
    this.minFreeBytes = reserveBytes(options.rule, space ? space.blocks * space.bsize : 0);
    if (space) this.take(space);
  }

  /** Bytes free to the collector's user at the last reading, or undefined when it failed. */
  get freeBytes(): number | undefined {
    return this.free;
  }

  /** True while the free space is under the reserve (at the last reading). */
  get isShort(): boolean {
    return this.short;
  }

  /**
   * Throws the 503 while the disk is short of the reserve. A reading that fails (the data dir
   * gone) refuses nothing here: the write that follows fails with its own 503.
   */
  check(): void {
    if (this.now() - this.readAt >= RECHECK_MS) this.read();
    if (!this.short) return;
    this.refusedSinceSaid++;
    if (this.now() - this.saidAt >= REMIND_MS) this.sayShort();
    throw diskShort();
  }

  private read(): void {
    try {
      this.take(this.statfs(this.options.dir));
    } catch (e) {
      this.readAt = this.now();
      this.free = undefined;
      this.short = false;
      if (this.now() - this.readFailedAt >= REMIND_MS) {
        this.readFailedAt = this.now();
        this.options.log.error(
          { err: (e as Error).message },
          "the data dir's free space cannot be read: reports are taken without the --min-free-disk check",
        );
      }
    }
  }

  private take(space: DiskSpace): void {
    this.readAt = this.now();
    this.free = space.bavail * space.bsize;
    const short = this.free < this.minFreeBytes;
    if (short && !this.short) {
      this.short = true;
      this.refusedSinceSaid = 0;
      this.sayShort();
    } else if (!short && this.short) {
      this.short = false;
      this.options.log.info(
        { freeBytes: this.free, minFreeBytes: this.minFreeBytes, refused: this.refusedSinceSaid },
        "the data dir's disk has room again: reports are taken",
      );
    }
  }

  private sayShort(): void {
    this.saidAt = this.now();
    this.options.log.error(
      {
        freeBytes: this.free,
        minFreeBytes: this.minFreeBytes,
        ...(this.refusedSinceSaid > 0 ? { refused: this.refusedSinceSaid } : {}),
      },
      "the data dir's disk has less free space than --min-free-disk keeps: reports are refused (503) until space is freed; erasure, expiry and triage still work",
    );
    this.refusedSinceSaid = 0;
  }
}

/**
 * The reserve in bytes for a file system of `totalBytes`.
 *
 * @example
 * reserveBytes({ percent: 5 }, 1000 * 1024 * 1024); // 52428800
 */
export function reserveBytes(rule: FreeSpaceRule, totalBytes: number): number {
  if ('percent' in rule) return Math.ceil((totalBytes * rule.percent) / 100);
  if (rule.atMostPercent === undefined) return rule.bytes;
  return Math.min(rule.bytes, Math.ceil((totalBytes * rule.atMostPercent) / 100));
}

function diskShort(): ApiError {
  return new ApiError(
    'unavailable',
    "The collector's disk is nearly full, so it takes no reports until space is freed; nothing was stored. Retry after the delay given.",
    { headers: { 'Retry-After': String(DISK_RETRY_AFTER_S) } },
  );
}
