import { fromThreadError, type ThreadError } from '../store/thread-error';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Collector } from '../collector';
import { ExpiryAbortedError, type ChunkOptions } from './deletions';

/** What the worker is started with. */
export interface ExpiryWorkerData {
  file: string;
  cutoff: number;
  chunkSize?: number;
  keepFrom?: number;
}

export type ToExpiryWorker = { type: 'go' } | { type: 'abort' };

export type FromExpiryWorker =
  | { type: 'pace' }
  | { type: 'chunk' }
  | { type: 'phase'; name: string }
  | { type: 'done'; deleted: number }
  | ({ type: 'error'; aborted: boolean } & ThreadError);

/** Compiled JavaScript from dist/, under Jest too (as for the writer thread). */
const WORKER_FILE = path.join(__dirname, '..', '..', 'dist', 'retention', 'expiry-worker.js');

/**
 * Runs the expiry job's deletions (retention/deletions.ts) on a thread with its own connection.
 * On the event loop's connection each chunk held up every request for its length, and a request
 * needs several turns of the loop (read, commit, fsync), so ingest during a run waited for
 * several chunks; here a request would wait only for the database lock, for at most one chunk,
 * and under `serve` not even that: ingest commits to the inbox meanwhile (retention/expire.ts).
 *
 * Before each chunk the thread asks for its turn: `o.pace`, then `hold()`, released when the
 * chunk is done, so that whatever else writes (the inbox's folds, store/inbox-writer.ts) and the
 * chunk never wait on each other inside SQLite.
 *
 * @example
 * const deleted = await deleteDueOnThread(c, cutoff, { pace, signal }, hold, (name) => marks.push(name));
 */
export function deleteDueOnThread(
  c: Collector,
  cutoff: number,
  o: ChunkOptions,
  hold: () => Promise<() => void>,
  phase: (name: string) => void,
): Promise<number> {
  if (!fs.existsSync(WORKER_FILE)) {
    return Promise.reject(
      new Error(`the expiry job is not built (${WORKER_FILE}): run npm run build`),
    );
  }
  return new Promise<number>((resolve, reject) => {
    const workerData: ExpiryWorkerData = {
      file: c.db.name,
      cutoff,
      chunkSize: o.chunkSize,
      keepFrom: o.keepFrom,
    };
    const worker = new Worker(WORKER_FILE, { workerData });
    let release: (() => void) | undefined;
    const free = () => {
      release?.();
      release = undefined;
    };
    const onAbort = () => worker.postMessage({ type: 'abort' } satisfies ToExpiryWorker);
    o.signal?.addEventListener('abort', onAbort, { once: true });
    let finished = false;
    const finish = (err: Error | undefined, deleted = 0) => {
      if (finished) return;
      finished = true;
      free();
      o.signal?.removeEventListener('abort', onAbort);
      if (err) {
        void worker.terminate();
        reject(err);
      } else resolve(deleted);
    };
    const turn = async () => {
      try {
        await o.pace?.();
        const held = await hold();
        if (finished) return held();
        release = held;
        worker.postMessage({ type: 'go' } satisfies ToExpiryWorker);
      } catch (e) {
        finish(e as Error);
      }
    };
    worker.on('message', (m: FromExpiryWorker) => {
      if (m.type === 'pace') void turn();
      else if (m.type === 'chunk') free();
      else if (m.type === 'phase') phase(m.name);
      else if (m.type === 'done') finish(undefined, m.deleted);
      else if (m.aborted) finish(new ExpiryAbortedError());
      // A storage error keeps its code (SQLITE_BUSY, SQLITE_FULL), so that it answers 503 as it
      // does on the event loop, not 500.
      else finish(fromThreadError(m));
    });
    worker.on('error', (e) => finish(e));
    worker.on('exit', () => finish(new Error('the expiry thread stopped before it finished')));
  });
}
