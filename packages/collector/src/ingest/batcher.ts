import type { IngestWriter, PreparedReport, StoredResult } from '../store/ingest-writer';
import { isBusy, storageUnavailable } from './unavailable';
import type { WalSync } from '../store/wal-sync';
import { MAX_UNSYNCED_RECORDS } from '../store/sealed-files';

export { STORAGE_RETRY_AFTER_S } from './unavailable';

interface Pending {
  report: PreparedReport;
  /** performance.now() when it was submitted */
  at: number;
  resolve: (r: StoredResult) => void;
  reject: (e: unknown) => void;
}

/** A batch committed: each report's outcome, and when the commit is on disk. */
export interface Committed {
  results: StoredResult[];
  durable: Promise<void>;
}

/**
 * Where batches are written: on the event loop's own connection (`inProcess`) or on a thread of
 * their own (store/writer-thread.ts). Rejects with the storage's error when nothing of the batch
 * was stored.
 */
export interface BatchWriter {
  write(items: PreparedReport[]): Promise<Committed>;
}

/**
 * Writes on the caller's connection. With `wal`, commits skip their fsync and are durable once
 * that shared sync of the WAL (store/wal-sync.ts) and the sync of the batch's records are done;
 * without, each batch syncs its records and its commit itself.
 *
 * @example
 * const batcher = new IngestBatcher(inProcess(new IngestWriter(db), wal), onError);
 */
export function inProcess(writer: IngestWriter, wal?: WalSync): BatchWriter {
  return {
    write(items) {
      try {
        const results = writer.write(items, wal === undefined);
        return Promise.resolve({ results, durable: wal ? writer.durable(wal) : Promise.resolve() });
      } catch (e) {
        return Promise.reject(e);
      }
    },
  };
}

export interface BatcherOptions {
  /** the most reports in one batch (default 512) */
  maxBatch?: number;
  /**
   * no batch is sent while this many reports are committed and not yet synced: what a power cut
   * can leave half on disk stays within what the start-up check looks at (MAX_UNSYNCED_RECORDS,
   * store/sealed-repair.ts)
   */
  maxUndurable?: number;
  /**
   * While no batch is being written, how long the first report waiting may wait for others to
   * join it (default 0: sent on the next turn of the event loop), unless `gatherReports` (default
   * 16) are waiting already. Reports that waited behind a batch being written go at once.
   */
  gatherMs?: number;
  gatherReports?: number;
}

/**
 * Group commit: reports that arrive while the last batch is being written are written together
 * in one transaction, so one fsync acknowledges many reports. Each caller learns its own outcome
 * only once the commit is on disk, so a 202 always means "on disk"; a refused batch is rolled back
 * whole, so a 503 always means "nothing of it stored". One batch is written at a time; the next
 * one starts as soon as the last one is committed, while its fsync is still running. With
 * `gatherMs`, a batch that would start with few reports waits that long for more first.
 *
 * @example
 * const batcher = new IngestBatcher(inProcess(new IngestWriter(db)), (err) => log.error(err));
 * const { group, created } = await batcher.submit(prepareReport(report, keyring, Date.now()));
 */
export class IngestBatcher {
  private pending: Pending[] = [];
  private scheduled = false;
  private writing = false;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  /** Reports submitted, and reports whose batch has committed or failed: for settled(). */
  private submitted = 0;
  private written = 0;
  private settleWaiters: { upTo: number; resolve: () => void }[] = [];
  private turnWaiters: (() => void)[] = [];
  /** reports committed whose commit is not yet known to be on disk */
  private undurable = 0;

  private readonly maxBatch: number;
  private readonly maxUndurable: number;
  private readonly gatherMs: number;
  private readonly gatherReports: number;
  /** the timer that sends the batch being gathered, once its first report has waited gatherMs */
  private gatherTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly writer: BatchWriter,
    private readonly onStorageError: (err: unknown, batchSize: number) => void,
    options: BatcherOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 512;
    this.maxUndurable = options.maxUndurable ?? MAX_UNSYNCED_RECORDS - this.maxBatch;
    this.gatherMs = options.gatherMs ?? 0;
    this.gatherReports = options.gatherReports ?? 16;
  }

  submit(report: PreparedReport): Promise<StoredResult> {
    this.inFlight++;
    this.submitted++;
    return new Promise<StoredResult>((resolve, reject) => {
      this.pending.push({ report, resolve, reject, at: performance.now() });
      if (!this.scheduled && !this.writing) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    }).finally(() => {
      this.inFlight--;
      if (this.inFlight === 0) this.idleWaiters.splice(0).forEach((w) => w());
    });
  }

  /** Resolves once every submitted report has been written or refused (for shutdown). */
  drain(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Resolves once every report submitted before the call has been committed (or refused), without
   * waiting for the fsync or for reports submitted later. The expiry job waits here, then for
   * turn(), before each chunk: reports already received go before the chunk, not after it.
   *
   * @example
   * await c.batcher.settled(); // what was received so far is committed
   */
  settled(): Promise<void> {
    if (this.written >= this.submitted) return Promise.resolve();
    return new Promise((resolve) => this.settleWaiters.push({ upTo: this.submitted, resolve }));
  }

  /**
   * Resolves when no batch is being written, and holds the next one back until the caller's
   * synchronous work that follows has run: the expiry job's chunk, on the event loop's
   * connection, then never starts while a batch waits for the lock, and takes its turn at most
   * one batch later.
   *
   * @example
   * await c.batcher.turn();
   * chunk(); // synchronous: no batch is in flight meanwhile
   */
  turn(): Promise<void> {
    if (!this.writing) return Promise.resolve();
    return new Promise((resolve) => this.turnWaiters.push(resolve));
  }

  private wrote(n: number): void {
    this.written += n;
    const ready = this.settleWaiters.filter((w) => w.upTo <= this.written);
    if (ready.length === 0) return;
    this.settleWaiters = this.settleWaiters.filter((w) => w.upTo > this.written);
    ready.forEach((w) => w.resolve());
  }

  /** `gathered`: the gathering timer's call (it may fire a fraction of a millisecond early) */
  private flush(gathered = false): void {
    this.scheduled = false;
    if (this.writing || this.pending.length === 0) return;
    if (this.undurable >= this.maxUndurable) return; // flushed again as syncs complete
    if (!gathered && this.gathering()) return;
    this.stopGathering();
    const batch = this.pending.splice(0, this.maxBatch);
    this.writing = true;
    void this.writeBatch(batch).finally(() => {
      this.writing = false;
      if (this.turnWaiters.length === 0) return this.flush();
      // Whoever waits for a turn goes first: the next batch is sent on the next turn of the loop.
      this.turnWaiters.splice(0).forEach((resolve) => resolve());
      this.scheduled = true;
      setImmediate(() => this.flush());
    });
  }

  /**
   * True while the batch waits for more reports: at 1,000 reports a second each report had a
   * commit of its own, which rewrites some 14 pages into the WAL (57 KB a report) and syncs them;
   * a batch of a few shares its pages and its sync, and the disk's queue stays short. Sets the
   * timer that sends it once its first report has waited `gatherMs`.
   */
  private gathering(): boolean {
    if (this.gatherMs <= 0 || this.pending.length >= this.gatherReports) return false;
    const left = this.pending[0].at + this.gatherMs - performance.now();
    if (left <= 0) return false;
    this.gatherTimer ??= setTimeout(() => {
      this.gatherTimer = undefined;
      this.flush(true);
    }, Math.ceil(left));
    return true;
  }

  private stopGathering(): void {
    if (this.gatherTimer) clearTimeout(this.gatherTimer);
    this.gatherTimer = undefined;
  }

  /** `report` false for the single-report retries, whose failure the batch's line already logged. */
  private async writeBatch(batch: Pending[], report = true): Promise<void> {
    let committed: Committed;
    try {
      committed = await this.writer.write(batch.map((p) => p.report));
    } catch (err) {
      // The transaction rolled back: nothing of this batch is stored.
      if (report) this.onStorageError(err, batch.length);
      if (batch.length > 1 && !isBusy(err)) {
        // Whatever failed (a full disk, a report the database refused), one report must not sink
        // the others that happened to share its transaction: each gets its own chance. Not after
        // a lock timeout, though: each single write would wait out the timeout again.
        for (const p of batch) await this.writeBatch([p], false);
        return;
      }
      this.wrote(batch.length);
      const refusal = storageUnavailable();
      batch.forEach((p) => p.reject(refusal));
      return;
    }
    this.wrote(batch.length);
    this.undurable += batch.length;
    const synced = () => {
      this.undurable -= batch.length;
      this.flush();
    };
    // Committed; answered once on disk. If that fails the reports are stored but not known to be
    // durable: a 503, and the client's retry is answered 200 from what is stored.
    committed.durable.then(
      () => {
        synced();
        batch.forEach((p, i) => p.resolve(committed.results[i]));
      },
      (err: unknown) => {
        synced();
        this.onStorageError(err, batch.length);
        const refusal = storageUnavailable();
        batch.forEach((p) => p.reject(refusal));
      },
    );
  }
}
