import { Worker } from 'node:worker_threads';
import type { Db } from './db';

/**
 * The worker's code, kept as plain JavaScript so it runs the same from the built package and
 * from the TypeScript sources under Jest. It opens its own connection and runs a PASSIVE
 * checkpoint every `intervalMs`: copying the WAL into the database never takes the writer's lock,
 * so neither ingest nor the expiry job waits for it.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const state = new Int32Array(workerData.state);
let db;
try {
  db = new Database(workerData.file, { fileMustExist: true });
  db.pragma('busy_timeout = 1000');
} catch (e) {
  parentPort.postMessage({ error: String(e && e.message) });
}
let timer;
const tick = () => {
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ log: r.log, checkpointed: r.checkpointed });
  } catch (e) {
    parentPort.postMessage({ error: String(e && e.message) });
  }
  timer = setTimeout(tick, workerData.intervalMs);
};
if (db) tick();
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearTimeout(timer);
  try { if (db) db.close(); } catch {}
  Atomics.store(state, 0, 1);
  Atomics.notify(state, 0);
  parentPort.close();
});
`;

export interface Checkpointer {
  /**
   * Resolves at once while the WAL holds at most `maxFrames` frames; otherwise once a checkpoint
   * has copied all of it (or after `timeoutMs`). A writer that never pauses keeps the checkpoint
   * from ever catching up, and SQLite starts the WAL over only when it has: the expiry job waits
   * here between chunks, so its WAL stays tens of megabytes instead of gigabytes (every page read
   * searches the WAL's index first, and slows down as it grows).
   */
  caughtUp(maxFrames: number, timeoutMs?: number): Promise<void>;
  /** What the last checkpoint found in the WAL (frames) and copied of it. */
  last(): { log: number; checkpointed: number };
  /** Stops the worker and waits (at most a few seconds) until its connection is closed. */
  stop(): void;
}

/**
 * Moves WAL checkpoints off the event loop: the connection's own automatic checkpoint (every
 * 1,000 pages, inside whichever commit crosses the mark) is turned off, and a worker thread with
 * a connection of its own checkpoints in the background. Without it, a commit of ingest that
 * crosses the mark copies megabytes into the database and fsyncs it before answering, and the
 * expiry job, which writes a page per two deleted reports, triggers that every few chunks.
 *
 * If the worker fails, the connection's automatic checkpoint comes back on.
 *
 * @example
 * const checkpointer = checkpointInBackground(db, '/var/lib/jcs/collector.db', (e) => log.warn(e));
 * // ... on close:
 * checkpointer.stop();
 */
export function checkpointInBackground(
  db: Db,
  file: string,
  onError: (message: string) => void,
  intervalMs = 100,
): Checkpointer {
  const state = new SharedArrayBuffer(4);
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { driver: require.resolve('better-sqlite3'), file, state, intervalMs },
  });
  worker.unref();
  db.pragma('wal_autocheckpoint = 0');
  let failed = false;
  let last = { log: 0, checkpointed: 0 };
  // Frames still to copy; once all are copied, the next write starts the WAL over.
  const pending = () => (last.log === last.checkpointed ? 0 : last.log);
  let waiters: (() => void)[] = [];
  const release = () => {
    const w = waiters;
    waiters = [];
    w.forEach((resolve) => resolve());
  };
  const fallBack = (message: string) => {
    onError(message);
    release();
    if (failed) return;
    failed = true;
    if (db.open) db.pragma('wal_autocheckpoint = 1000');
  };
  worker.on('message', (m: { error?: string; log?: number; checkpointed?: number }) => {
    if (m.error) return fallBack(`background checkpoint failed: ${m.error}`);
    last = { log: m.log ?? 0, checkpointed: m.checkpointed ?? 0 };
    if (pending() === 0) release();
  });
  worker.on('error', (e) => fallBack(`background checkpoint worker failed: ${e.message}`));
  return {
    caughtUp(maxFrames, timeoutMs = 2_000) {
      if (failed || pending() <= maxFrames) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
    last: () => last,
    stop() {
      release();
      if (failed) {
        void worker.terminate();
        return;
      }
      worker.postMessage('stop');
      // close() is synchronous for its callers; the worker answers within a checkpoint's time.
      Atomics.wait(new Int32Array(state), 0, 0, 5_000);
      if (db.open) db.pragma('wal_autocheckpoint = 1000');
    },
  };
}
