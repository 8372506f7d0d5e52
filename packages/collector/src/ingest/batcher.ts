import type { IngestWriter, PreparedReport, StoredResult } from '../store/ingest-writer';
import { isBusy, storageUnavailable } from './unavailable';
import type { WalSync } from '../store/wal-sync';

export { STORAGE_RETRY_AFTER_S } from './unavailable';

interface Pending {
  report: PreparedReport;
  resolve: (r: StoredResult) => void;
  reject: (e: unknown) => void;
}

/**
 * Group commit: reports that arrive while the event loop is busy are written together in one
 * transaction at the next turn of the loop, so one fsync acknowledges many reports. Each caller
 * learns its own outcome only after the commit, so a 202 always means "on disk"; a refused batch
 * is rolled back whole, so a 503 always means "nothing of it stored".
 *
 * @example
 * const batcher = new IngestBatcher(new IngestWriter(db), (err) => log.error(err));
 * const { group, created } = await batcher.submit(prepareReport(report, keyring, Date.now()));
 */
export class IngestBatcher {
  private pending: Pending[] = [];
  private scheduled = false;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly writer: IngestWriter,
    private readonly onStorageError: (err: unknown, batchSize: number) => void,
    private readonly maxBatch = 512,
    /** when given, commits skip their fsync and answers wait for this one instead */
    private readonly wal?: WalSync,
  ) {}

  submit(report: PreparedReport): Promise<StoredResult> {
    this.inFlight++;
    return new Promise<StoredResult>((resolve, reject) => {
      this.pending.push({ report, resolve, reject });
      if (!this.scheduled) {
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

  private flush(): void {
    this.scheduled = false;
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxBatch);
      this.writeBatch(batch);
    }
  }

  /** `report` false for the single-report retries, whose failure the batch's line already logged. */
  private writeBatch(batch: Pending[], report = true): void {
    let results: StoredResult[];
    try {
      results = this.writer.write(
        batch.map((p) => p.report),
        this.wal === undefined,
      );
    } catch (err) {
      // The transaction rolled back: nothing of this batch is stored.
      if (report) this.onStorageError(err, batch.length);
      if (batch.length > 1 && !isBusy(err)) {
        // Whatever failed (a full disk, a report the database refused), one report must not sink
        // the others that happened to share its transaction: each gets its own chance. Not after
        // a lock timeout, though: each single write would wait out the timeout again.
        batch.forEach((p) => this.writeBatch([p], false));
        return;
      }
      const refusal = storageUnavailable();
      batch.forEach((p) => p.reject(refusal));
      return;
    }
    if (!this.wal) {
      batch.forEach((p, i) => p.resolve(results[i]));
      return;
    }
    // Committed; answered once the WAL is on disk. If that fails the reports are stored but not
    // known to be durable: a 503, and the client's retry is answered 200 from what is stored.
    this.wal.sync().then(
      () => batch.forEach((p, i) => p.resolve(results[i])),
      (err: unknown) => {
        this.onStorageError(err, batch.length);
        const refusal = storageUnavailable();
        batch.forEach((p) => p.reject(refusal));
      },
    );
  }
}
