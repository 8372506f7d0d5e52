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
    db.pragma('wal_checkpoint(PASSIVE)');
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
  const fallBack = (message: string) => {
    onError(message);
    if (failed) return;
    failed = true;
    if (db.open) db.pragma('wal_autocheckpoint = 1000');
  };
  worker.on('message', (m: { error?: string }) => {
    if (m.error) fallBack(`background checkpoint failed: ${m.error}`);
  });
  worker.on('error', (e) => fallBack(`background checkpoint worker failed: ${e.message}`));
  return {
    stop() {
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
