import { ApiError } from '@jcs/protocol';
import type { IngestWriter, PreparedReport, StoredResult } from '../store/ingest-writer';

interface Pending {
  report: PreparedReport;
  resolve: (r: StoredResult) => void;
  reject: (e: unknown) => void;
}

/** Seconds a client should wait after the storage refused a write. */
export const STORAGE_RETRY_AFTER_S = 5;

/**
 * Group commit: reports that arrive while the event loop is busy are written together in one
 * transaction at the next turn of the loop, so one fsync acknowledges many reports. Each caller
 * learns its own outcome only after the commit, so a 202 always means "on disk".
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
      let results: StoredResult[];
      try {
        results = this.writer.write(batch.map((p) => p.report));
      } catch (err) {
        // The transaction rolled back: nothing of this batch is stored, and each sender may retry.
        this.onStorageError(err, batch.length);
        const refusal = new ApiError('unavailable', undefined, {
          headers: { 'Retry-After': String(STORAGE_RETRY_AFTER_S) },
        });
        batch.forEach((p) => p.reject(refusal));
        continue;
      }
      batch.forEach((p, i) => p.resolve(results[i]));
    }
  }
}
