import fs from 'node:fs';
import { ApiError } from '@jcs/protocol';
import { rareError, type Logger, type RareError } from '../log';

/** Seconds a client is told to wait while the disk is short of space: freeing it takes a person. */
export const DISK_RETRY_AFTER_S = 60;

/** How often the free space is read. */
const RECHECK_MS = 250;

/** How often, at most, the refusals (and failed readings) are logged while they go on. */
const REMIND_MS = 60_000;

/** A reading older than this (readings fail, or one hangs) is no longer acted on. */
const STALE_MS = 5_000;

/** While the disk stays short, how often onShort is called again. */
const ON_SHORT_AGAIN_MS = 10_000;

/** While the disk is short, how often a report may have the free space read again at once. */
const SYNC_RECHECK_MS = 20;

const MIB = 1024 * 1024;

/**
 * What a report costs the disk besides its body, while the WAL is still growing: its pages in the
 * WAL, some 7.5 frames of 4 KiB at saturation and 12 at 1,000 reports/s (docs/performance.md).
 * Counted with the bodies a reading may not have seen written, so that the reports taken between
 * two readings stop at the reserve: counted as bodies alone, they ran past a small disk's reserve
 * to a full disk.
 */
export const REPORT_WRITES_BYTES = 32 * 1024;

/**
 * How much free space `serve --min-free-disk` keeps: bytes, or a percentage of the data dir's
 * file system. The default is 64 MiB, but never more than 2% of the file system, so that a small
 * disk (a 32 MiB tmpfs) is not refused from the start, nor less than 8 MiB: what a quarter of a
 * second of reports writes between two readings at saturation (some 17 KB of WAL each while the
 * WAL grows), a day file's 1 MiB written ahead, and room for the checkpoint that gives the WAL's
 * space back (ingest/wal-relief.ts). With 2% of a 48 MiB disk (1 MiB) the disk went on to fill
 * up, and then nothing could free it.
 */
export type FreeSpaceRule =
  { bytes: number; atMostPercent?: number; atLeastBytes?: number } | { percent: number };

export const DEFAULT_FREE_SPACE: FreeSpaceRule = {
  bytes: 64 * MIB,
  atMostPercent: 2,
  atLeastBytes: 8 * MIB,
};

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
  /** tests pass their own; the real one is `fs.promises.statfs` */
  statfs?: (dir: string) => Promise<DiskSpace>;
  /** read while the disk is short; `fs.statfsSync` unless `statfs` is given without it */
  statfsSync?: (dir: string) => DiskSpace;
  /** how often the free space is read (250 ms); 0: only when refresh() is called (tests) */
  recheckMs?: number;
  /** monotonic milliseconds, for the log's pace; tests pass their own */
  now?: () => number;
  /**
   * Called when a reading finds the disk short or a body is refused for want of room, at most
   * every 10 s: `serve` then empties the WAL, which may hold space the disk can have back.
   */
  onShort?: () => void;
}

/**
 * Keeps room on the data dir's disk for what must still work when reports fill it: erasure,
 * expiry, triage changes and their access-log entries. While the free space is under the reserve,
 * reports are refused with 503 `unavailable` and a Retry-After of a minute, before their bodies
 * are read; senders keep them queued and send them again, so nothing is lost. Without it, a flood
 * of large reports filled the disk at some 35 MB/s from one address, and then erasure failed too.
 *
 * The free space is read every 250 ms off the event loop (a data dir on a hung network disk
 * holds a reading, not every request), one reading at a time, and while the disk is short, again
 * at once before refusing (at most every 20 ms). Once read, a body is let in only
 * if it fits above the reserve with the bodies the last reading may not have seen written (in
 * flight, or answered after it began), so that many large reports arriving at once cannot run
 * past the reserve before the next reading; one that does not fit is refused alone.
 *
 * @example
 * const reserve = await DiskReserve.open({ dir: dataDir, rule: DEFAULT_FREE_SPACE, log });
 * reserve.refuseWhileShort(); // before the body: 503 unavailable while the disk is short
 * const done = reserve.admit(body.length); // once read: 503 for a body that would not fit
 * // ... store the report, then
 * done();
 */
export class DiskReserve {
  private readonly statfs: (dir: string) => Promise<DiskSpace>;
  private readonly statfsSync: ((dir: string) => DiskSpace) | undefined;
  private syncReadAt = -Infinity;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private free: number | undefined;
  private reserve: number | undefined;
  /** bytes of bodies let in and not yet answered */
  private inFlight = 0;
  /** readings begun so far: a body is counted until a reading begun after its answer ends */
  private generation = 0;
  /** bytes of bodies answered, by the generation they were answered in, that no reading saw */
  private readonly answered = new Map<number, number>();
  private short = false;
  private onShortAt = -Infinity;
  private refusedSinceSaid = 0;
  private saidAt = -Infinity;
  /** when the last reading succeeded */
  private readAt = -Infinity;
  /** bodies refused since the last line said so, for taking the free space under the reserve */
  private overflowed = 0;
  private overflowSaidAt = -Infinity;
  /** a line said the disk is short, and none since that it has room */
  private toldShort = false;
  private readonly readFailed: RareError;

  private constructor(private readonly options: DiskReserveOptions) {
    this.statfs = options.statfs ?? ((dir) => fs.promises.statfs(dir));
    this.statfsSync =
      options.statfsSync ?? (options.statfs ? undefined : (dir) => fs.statfsSync(dir));
    this.now = options.now ?? (() => performance.now());
    this.readFailed = rareError(
      options.log,
      "the data dir's free space cannot be read: reports are taken without the --min-free-disk check",
      REMIND_MS,
      this.now,
    );
  }

  /**
   * The reserve over its first reading. A reading that fails (the data dir gone) refuses nothing:
   * the write that follows fails with its own 503, and the reserve is worked out once a reading
   * succeeds.
   */
  static async open(options: DiskReserveOptions): Promise<DiskReserve> {
    const reserve = new DiskReserve(options);
    await reserve.refresh();
    const every = options.recheckMs ?? RECHECK_MS;
    if (every > 0) {
      // Unref'd: it never holds a stopping process.
      reserve.timer = setInterval(() => void reserve.refresh(), every).unref();
    }
    return reserve;
  }

  /** The reserve in bytes (undefined until a reading succeeded). */
  get minFreeBytes(): number | undefined {
    return this.reserve;
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
   * Throws the 503 while the last reading found the disk short of the reserve: asked before a
   * report's body is read, so a sender waits without sending it.
   */
  refuseWhileShort(): void {
    if (this.short) this.readNowWhileShort();
    if (!this.short || !this.fresh()) return;
    this.refusedSinceSaid++;
    if (this.now() - this.saidAt >= REMIND_MS) this.sayShort();
    throw diskShort();
  }

  /**
   * Lets in a body of `body` bytes, once it is read, or throws the 503 for this body alone when
   * it would take the free space under the reserve, with what the last reading may not have seen
   * written counted in (each report as its body and REPORT_WRITES_BYTES). Call what it returns
   * once the request is answered.
   */
  admit(body: number): () => void {
    if (this.reserve === undefined || this.reserve === 0 || !this.fresh()) return () => undefined;
    this.refuseWhileShort();
    const bytes = body + REPORT_WRITES_BYTES;
    if (this.free! - this.unseenBytes - bytes < this.reserve) {
      this.overflowed++;
      if (this.now() - this.overflowSaidAt >= REMIND_MS) this.sayOverflow();
      this.relieve();
      throw diskShort();
    }
    this.inFlight += bytes;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.inFlight -= bytes;
      this.answered.set(this.generation, (this.answered.get(this.generation) ?? 0) + bytes);
    };
  }

  /** Bytes of the reports let in that the last reading may not have seen written. */
  get unseenBytes(): number {
    let bytes = this.inFlight;
    for (const answered of this.answered.values()) bytes += answered;
    return bytes;
  }

  /**
   * A reading that is not fresh (readings fail, or one hangs on a network disk) refuses nothing:
   * the write that follows fails with its own 503 if the disk is full.
   */
  private fresh(): boolean {
    return this.free !== undefined && this.now() - this.readAt <= STALE_MS;
  }

  /** Reads the free space now, unless a reading is under way (then waits for that one). */
  refresh(): Promise<void> {
    this.reading ??= this.read().finally(() => (this.reading = undefined));
    return this.reading;
  }

  /** Stops the readings, and says the failed ones not yet said. */
  close(): void {
    clearInterval(this.timer);
    this.readFailed.flush();
  }

  private async read(): Promise<void> {
    const begun = ++this.generation;
    let space: DiskSpace;
    try {
      space = await this.statfs(this.options.dir);
    } catch (e) {
      this.failed(e);
      return;
    }
    this.apply(space, begun);
  }

  /**
   * While short, a report is not refused on a reading up to 250 ms old: the free space is read
   * again at once (at most every 20 ms), so a report sent the moment space is freed is taken, as
   * it was before there was a reserve. Synchronous, but only while the disk is short.
   */
  private readNowWhileShort(): void {
    if (!this.statfsSync || this.now() - this.syncReadAt < SYNC_RECHECK_MS) return;
    this.syncReadAt = this.now();
    const begun = ++this.generation;
    let space: DiskSpace;
    try {
      space = this.statfsSync(this.options.dir);
    } catch (e) {
      this.failed(e);
      return;
    }
    this.apply(space, begun);
  }

  private failed(e: unknown): void {
    this.free = undefined;
    this.short = false;
    // Nothing is refused until a reading succeeds, and that one starts the count afresh.
    this.answered.clear();
    this.readFailed(e as Error);
  }

  private apply(space: DiskSpace, begun: number): void {
    // Bodies answered before this reading began were written before it: it saw them.
    for (const generation of this.answered.keys()) {
      if (generation < begun) this.answered.delete(generation);
    }
    this.reserve ??= reserveBytes(this.options.rule, space.blocks * space.bsize);
    this.free = space.bavail * space.bsize;
    this.readAt = this.now();
    // By the reading alone: bodies in flight refuse only themselves (admit), so that no sender
    // can shut ingest for everyone with bodies it sends.
    const short = this.free < this.reserve;
    if (short && !this.short) this.becomeShort();
    if (short) this.relieve();
    if (!short && this.short) {
      this.short = false;
      // Said only after a line that said it was short: near the reserve under load the two can
      // take turns every reading, and each line would say the same.
      if (this.toldShort) {
        this.toldShort = false;
        this.options.log.info(
          { freeBytes: this.free, minFreeBytes: this.reserve, refused: this.refusedSinceSaid },
          "the data dir's disk has room again: reports are taken",
        );
        this.refusedSinceSaid = 0;
      }
    }
  }

  /** Calls onShort, at most every 10 s. */
  private relieve(): void {
    if (this.now() - this.onShortAt < ON_SHORT_AGAIN_MS) return;
    this.onShortAt = this.now();
    try {
      this.options.onShort?.();
    } catch {
      // the caller's own concern: never a reason to take or refuse a report
    }
  }

  private sayOverflow(): void {
    this.overflowSaidAt = this.now();
    this.options.log.warn(
      { freeBytes: this.free, minFreeBytes: this.reserve, refused: this.overflowed },
      'reports refused: stored, they would take the free space under --min-free-disk',
    );
    this.overflowed = 0;
  }

  private becomeShort(): void {
    this.short = true;
    if (this.now() - this.saidAt >= REMIND_MS) this.sayShort();
  }

  private sayShort(): void {
    this.saidAt = this.now();
    this.toldShort = true;
    this.options.log.error(
      {
        freeBytes: this.free,
        minFreeBytes: this.reserve,
        ...(this.refusedSinceSaid > 0 ? { refused: this.refusedSinceSaid } : {}),
      },
      "the data dir's disk has less free space than --min-free-disk keeps: reports are refused (503) until space is freed, so that what is left keeps erasure, expiry and triage working",
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
  const share = Math.ceil((totalBytes * rule.atMostPercent) / 100);
  return Math.min(rule.bytes, Math.max(share, rule.atLeastBytes ?? 0));
}

function diskShort(): ApiError {
  return new ApiError(
    'unavailable',
    "The collector's disk is nearly full, so it takes no reports until space is freed; nothing was stored. Retry after the delay given.",
    { headers: { 'Retry-After': String(DISK_RETRY_AFTER_S) } },
  );
}
