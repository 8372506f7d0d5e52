import path from 'node:path';
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { PreparedReport, StoredResult } from './ingest-writer';
import type { BatchWriter, Committed } from '../ingest/batcher';
import { packBatch, type WireBatch } from './batch-wire';

/** What the worker is started with. */
export interface WriterWorkerData {
  file: string;
  backgroundCheckpoint: boolean;
  /**
   * Int32 state at 0: 0 starting, 1 ready, 2 failed to open (why: UTF-8 from byte 8, length at
   * 4), 3 closed. Shared memory, so the constructor can wait for it synchronously.
   */
  state: SharedArrayBuffer;
}

export type WorkerRequest =
  | { type: 'write'; id: number; batch: WireBatch }
  | { type: 'autocheckpoint'; pages: number }
  | { type: 'close' };

type WorkerError = { message: string; code?: string };

export type WorkerReply =
  | { id: number; results: StoredResult[] }
  | { id: number; synced: true }
  | { id: number; syncError: WorkerError }
  | { id: number; error: WorkerError };

/**
 * The compiled worker. It is JavaScript from dist/ even under Jest (which runs the TypeScript
 * sources): a worker thread cannot load TypeScript. `npm test` builds dist/ first.
 */
const WORKER_FILE = path.join(__dirname, '..', '..', 'dist', 'store', 'writer-worker.js');

interface InFlight {
  committed: (r: Committed) => void;
  failed: (e: unknown) => void;
  synced?: () => void;
  syncFailed?: (e: unknown) => void;
}

/**
 * Ingest's writes on a thread of their own. SQLite work (the inserts, the commit's WAL writes)
 * was a third of the event loop's time per report; on the thread it overlaps with the next
 * requests' parsing, validation and sealing, and batches grow while the thread is busy, so each
 * commit covers more reports. The event loop keeps its own connection for everything else;
 * their write transactions start with BEGIN IMMEDIATE, so the two writers queue for the lock
 * instead of failing on a stale snapshot.
 *
 * Start-up is synchronous: the constructor returns once the thread's connection is open, and
 * throws what stopped it otherwise.
 *
 * @example
 * const writer = new WriterThread('/var/lib/jcs/collector.db', { backgroundCheckpoint: true });
 * const { results, durable } = await writer.write(prepared);
 * await durable; // on disk: answer 202
 */
export class WriterThread implements BatchWriter {
  private readonly worker: Worker;
  private readonly state = new SharedArrayBuffer(8 + START_ERROR_BYTES);
  private readonly inFlight = new Map<number, InFlight>();
  private nextId = 1;
  private broken: Error | undefined;

  constructor(
    file: string,
    private readonly options: {
      backgroundCheckpoint?: boolean;
      /** told once if the thread stops (not on close) */
      onFailure?: (err: Error) => void;
    } = {},
  ) {
    if (!fs.existsSync(WORKER_FILE)) {
      throw new Error(`the ingest writer is not built (${WORKER_FILE}): run npm run build`);
    }
    const workerData: WriterWorkerData = {
      file,
      backgroundCheckpoint: Boolean(options.backgroundCheckpoint),
      state: this.state,
    };
    this.worker = new Worker(WORKER_FILE, { workerData });
    const state = new Int32Array(this.state);
    Atomics.wait(state, 0, 0, 30_000);
    if (Atomics.load(state, 0) !== 1) {
      const message = startError(this.state) ?? 'the ingest writer thread did not start';
      void this.worker.terminate();
      throw new Error(message);
    }
    this.worker.on('message', (m: WorkerReply) => this.onReply(m));
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', () => this.fail(new Error('the ingest writer thread stopped')));
    this.worker.unref();
  }

  write(items: PreparedReport[]): Promise<Committed> {
    if (this.broken) return Promise.reject(this.broken);
    const id = this.nextId++;
    return new Promise<Committed>((committed, failed) => {
      this.inFlight.set(id, { committed, failed });
      const batch = packBatch(items);
      this.worker.postMessage({ type: 'write', id, batch } satisfies WorkerRequest, [batch.bytes]);
    });
  }

  /** Turns the thread's own automatic checkpoint back on (the background one has failed). */
  autoCheckpoint(pages: number): void {
    if (!this.broken) this.worker.postMessage({ type: 'autocheckpoint', pages });
  }

  /** Closes the thread's connection and waits (a few seconds at most) until it has. */
  close(): void {
    if (this.broken) return;
    this.broken = new Error('the collector is closing');
    this.worker.postMessage({ type: 'close' } satisfies WorkerRequest);
    Atomics.wait(new Int32Array(this.state), 0, 1, 5_000);
  }

  private onReply(m: WorkerReply): void {
    const f = this.inFlight.get(m.id);
    if (!f) return;
    if ('results' in m) {
      const durable = new Promise<void>((resolve, reject) => {
        f.synced = resolve;
        f.syncFailed = reject;
      });
      f.committed({ results: m.results, durable });
      return;
    }
    this.inFlight.delete(m.id);
    if ('synced' in m) f.synced?.();
    else if ('syncError' in m) f.syncFailed?.(toError(m.syncError));
    else f.failed(toError(m.error));
  }

  /** The thread is gone: everything not yet answered fails (503), as does every later write. */
  private fail(e: Error): void {
    if (this.broken) return;
    this.broken = e;
    this.options.onFailure?.(e);
    for (const f of this.inFlight.values()) {
      if (f.syncFailed) f.syncFailed(e);
      else f.failed(e);
    }
    this.inFlight.clear();
  }
}

/** Room in the shared state for why the thread could not open the database. */
export const START_ERROR_BYTES = 1024;

function startError(state: SharedArrayBuffer): string | undefined {
  const length = new Int32Array(state)[1];
  if (!length) return undefined;
  return Buffer.from(state, 8, length).toString('utf8');
}

function toError(e: WorkerError): Error {
  return Object.assign(new Error(e.message), e.code ? { code: e.code } : {});
}
