import { fromThreadError, type ThreadError } from './thread-error';
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
   * Int32 state at 0: 0 starting, 1 ready, 2 failed to open (why: `{ message, code }` as UTF-8
   * JSON from byte 12, its length at 4), 3 closed; at 8, how many reports the inbox held at
   * start. Shared memory, so the constructor can wait for it synchronously.
   */
  state: SharedArrayBuffer;
}

export type WorkerRequest =
  | { type: 'write'; id: number; batch: WireBatch }
  | { type: 'inbox'; id: number; on: boolean }
  | { type: 'fold'; id: number }
  | { type: 'autocheckpoint'; pages: number }
  | { type: 'close' };

export type WorkerReply =
  | { id: number; results: StoredResult[]; inbox?: number }
  | { control: number; value: number }
  | { control: number; error: ThreadError }
  | { id: number; synced: true }
  | { id: number; syncError: ThreadError }
  | { id: number; error: ThreadError };

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
  private readonly state = new SharedArrayBuffer(12 + START_ERROR_BYTES);
  private readonly inFlight = new Map<number, InFlight>();
  private nextId = 1;
  private broken: Error | undefined;
  private readonly controls = new Map<number, Control>();
  /** the newest batch committed to the inbox, and the newest folded into the database */
  private inboxed = 0;
  private folded = 0;
  private folding: Promise<void> | undefined;
  /** holdFolds() callers that have not released, and who waits for them */
  private foldHolds = 0;
  private afterHolds: (() => void)[] = [];
  /** reports the inbox held at start, folded into the database then (a run was cut short) */
  readonly recovered: number;

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
      const why = startError(this.state);
      void this.worker.terminate();
      // With its code, so that a full disk is said as one (commands/system-failure.ts).
      throw Object.assign(new Error(why?.message ?? 'the ingest writer thread did not start'), {
        code: why?.code,
      });
    }
    this.recovered = state[2];
    this.worker.on('message', (m: WorkerReply) => this.onReply(m));
    // What a thread throws arrives cloned, and a SqliteError may lose its message on the way.
    this.worker.on('error', (e: unknown) => this.fail(asError(e)));
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

  /**
   * `true`: the batches that follow are committed to the inbox (store/inbox-writer.ts), not the
   * database, until `false`, which resolves once everything the inbox took is in the database
   * and on disk. The expiry job turns it on for its deletions.
   *
   * @example
   * await writer.useInbox(true);
   * try { await deleteEverythingDue(); } finally { await writer.useInbox(false); }
   */
  async useInbox(on: boolean): Promise<void> {
    const upTo = await this.control({ type: 'inbox', on });
    if (!on) this.foldedUpTo(upTo);
  }

  /**
   * Resolves once every batch the inbox had taken when called is in the database (committed;
   * stop's sync makes it durable). Waits while the expiry job's chunk holds the lock
   * (holdFolds), so the writer thread never waits for it inside SQLite. Rejects with the
   * storage's error.
   */
  fold(): Promise<void> {
    if (this.folded >= this.inboxed) return Promise.resolve();
    if (this.folding) return this.folding.then(() => this.fold());
    if (this.foldHolds > 0) {
      return new Promise<void>((resolve) => this.afterHolds.push(resolve)).then(() => this.fold());
    }
    const run = this.control({ type: 'fold' }).then((upTo) => this.foldedUpTo(upTo));
    this.folding = run.finally(() => {
      this.folding = undefined;
    });
    return this.folding;
  }

  /**
   * Keeps folds from starting until the returned function is called, once the one in flight (if
   * any) is done: the expiry job holds this while its chunk holds the database's lock.
   */
  async holdFolds(): Promise<() => void> {
    while (this.folding) await this.folding.catch(() => undefined);
    this.foldHolds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.foldHolds--;
      if (this.foldHolds === 0) this.afterHolds.splice(0).forEach((resolve) => resolve());
    };
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

  /** Sends a request the worker answers with a number (`{ control: id, value }`). */
  private control(request: { type: 'inbox'; on: boolean } | { type: 'fold' }): Promise<number> {
    if (this.broken) return Promise.reject(this.broken);
    const id = this.nextId++;
    return new Promise<number>((resolve, reject) => {
      this.controls.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id } satisfies WorkerRequest);
    });
  }

  private foldedUpTo(seq: number): void {
    this.folded = Math.max(this.folded, seq);
  }

  private onReply(m: WorkerReply): void {
    if ('control' in m) {
      const c = this.controls.get(m.control);
      this.controls.delete(m.control);
      if ('error' in m) c?.reject(fromThreadError(m.error));
      else c?.resolve(m.value);
      return;
    }
    const f = this.inFlight.get(m.id);
    if (!f) return;
    if ('results' in m) {
      if (m.inbox !== undefined) this.inboxed = Math.max(this.inboxed, m.inbox);
      const durable = new Promise<void>((resolve, reject) => {
        f.synced = resolve;
        f.syncFailed = reject;
      });
      f.committed({ results: m.results, durable });
      return;
    }
    this.inFlight.delete(m.id);
    if ('synced' in m) f.synced?.();
    else if ('syncError' in m) f.syncFailed?.(fromThreadError(m.syncError));
    else f.failed(fromThreadError(m.error));
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
    for (const c of this.controls.values()) c.reject(e);
    this.controls.clear();
  }
}

/** Room in the shared state for why the thread could not open the database. */
export const START_ERROR_BYTES = 1024;

/** Why the thread could not start, as writer-worker.ts wrote it: `{ message, code }` in JSON. */
function startError(state: SharedArrayBuffer): { message: string; code?: string } | undefined {
  const length = new Int32Array(state)[1];
  if (!length) return undefined;
  try {
    return JSON.parse(Buffer.from(state, 12, length).toString('utf8')) as {
      message: string;
      code?: string;
    };
  } catch {
    return undefined;
  }
}

function asError(e: unknown): Error {
  if (e instanceof Error && typeof e.message === 'string' && e.message !== '') return e;
  const err = e as { message?: unknown; code?: unknown } | null;
  const message = typeof err?.message === 'string' && err.message !== '' ? err.message : String(e);
  return Object.assign(new Error(message), { code: err?.code });
}

interface Control {
  resolve: (value: number) => void;
  reject: (e: unknown) => void;
}
