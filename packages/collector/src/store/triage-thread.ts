import { fromThreadError } from './thread-error';
import fs from 'node:fs';
import path from 'node:path';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { ApiError, type ErrorCode, type ErrorDetail } from '@jcs/protocol';
import type { TriageRead } from './triage';

/** What the worker is started with. */
export interface TriageWorkerData {
  file: string;
  keysDir: string;
  /** only the master key's variable, where it is set (crypto/keyring.ts) */
  env: NodeJS.ProcessEnv;
  retentionDays: number;
  /** `sealed/` was there when the collector opened (store/report-reader.ts, sealedFolderSeen) */
  sealedSeen: boolean;
}

export interface TriageRequest {
  id: number;
  /** the collector's clock at the request */
  now: number;
  read: TriageRead;
}

export interface TriageReply {
  id: number;
  result?: unknown;
  error?: { apiCode?: ErrorCode; message: string; details?: ErrorDetail[]; code?: string };
}

/** Compiled JavaScript from dist/, under Jest too (as for the writer thread). */
const WORKER_FILE = path.join(__dirname, '..', '..', 'dist', 'store', 'triage-worker.js');

/** The thread stopped, or could not start: the read did not run (the caller may run it itself). */
export class TriageThreadError extends Error {
  override name = 'TriageThreadError';

  /** The thread ran out of memory: the same read on the event loop would take the process down. */
  constructor(
    message: string,
    readonly outOfMemory = false,
  ) {
    super(message);
  }
}

interface Waiting {
  resolve: (value: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * Triage reads on a thread with a connection of its own. A `GET /v1/groups` whose window's edge
 * days hold a few thousand reports takes some 20-25 ms; on the event loop, every report waited
 * for each one, and ten connections of such reads took ingest's p99 at 1,000 reports/s to seconds.
 * Here they take their turn on the CPU beside ingest instead. The thread starts on the first
 * read, answers one read at a time, and is started again after a failure.
 *
 * @example
 * const triage = new TriageThread({ file, keysDir, env: {}, retentionDays: 42 });
 * await triage.read({ op: 'list', query }, Date.now()); // [Group, ...]
 */
export class TriageThread {
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private closed = false;

  /**
   * @param resourceLimits the thread's heap (Node's defaults when absent): a read past it ends
   *   the thread, not the process, and is refused (TriageThreadError's outOfMemory)
   */
  constructor(
    private readonly data: TriageWorkerData,
    private readonly resourceLimits?: ResourceLimits,
  ) {}

  /** True where the worker is built (dist/); the collector reads on its own connection otherwise. */
  static available(): boolean {
    return fs.existsSync(WORKER_FILE);
  }

  read(read: TriageRead, now: number): Promise<unknown> {
    if (this.closed) return Promise.reject(new TriageThreadError('the collector is closing'));
    const worker = this.start();
    const id = this.nextId++;
    // Held while a read waits; idle, it must not keep the process alive (a command, a test).
    worker.ref();
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, now, read } satisfies TriageRequest);
    });
  }

  /** Stops the thread; reads still waiting are refused. */
  close(): void {
    this.closed = true;
    this.worker?.postMessage('close');
    this.worker = undefined;
    this.failAll(new TriageThreadError('the collector is closing'));
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_FILE, {
      workerData: this.data,
      ...(this.resourceLimits ? { resourceLimits: this.resourceLimits } : {}),
    });
    worker.on('message', (m: TriageReply) => this.answer(m));
    worker.on('error', (e) =>
      this.stopped(
        worker,
        new TriageThreadError(
          e.message,
          (e as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY',
        ),
      ),
    );
    worker.on('exit', (code) =>
      this.stopped(worker, new TriageThreadError(`the triage thread stopped (exit ${code})`)),
    );
    this.worker = worker;
    return worker;
  }

  private answer(m: TriageReply): void {
    const w = this.waiting.get(m.id);
    if (!w) return;
    this.waiting.delete(m.id);
    if (this.waiting.size === 0) this.worker?.unref();
    if (!m.error) return w.resolve(m.result);
    const e = m.error;
    if (e.apiCode) w.reject(new ApiError(e.apiCode, e.message, { details: e.details }));
    // A storage error keeps its code, so that it answers 503 as on the event loop.
    else w.reject(fromThreadError(e));
  }

  private stopped(worker: Worker, e: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.failAll(e);
  }

  private failAll(e: Error): void {
    const all = [...this.waiting.values()];
    this.waiting.clear();
    all.forEach((w) => w.reject(e));
  }
}
