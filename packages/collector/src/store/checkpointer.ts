import { Worker } from 'node:worker_threads';
import type { Db } from './db';

/**
 * The worker's code, kept as plain JavaScript so it runs the same from the built package and
 * from the TypeScript sources under Jest. It opens its own connection and runs a PASSIVE
 * checkpoint every `intervalMs`: copying the WAL into the database never takes the writer's lock,
 * so neither ingest nor the expiry job waits for it.
 *
 * A WAL starts over only when a write begins while every frame is copied and no other
 * connection is reading from it; with the event loop reading for every request and the writer
 * thread writing every few milliseconds, that moment never came, and the WAL grew for as long
 * as the collector ran (every page read searches its index; truncating a large one holds up the
 * writers). So once a PASSIVE checkpoint has copied at least `restartFrames` frames, all of them,
 * a RESTART checkpoint follows: with nothing left to copy it holds the writer's lock only until
 * the readers of the moment are done, and the next write starts the WAL over.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const Database = require(workerData.driver);
const state = new Int32Array(workerData.state);
let db;
try {
  db = new Database(workerData.file, { fileMustExist: true });
  db.pragma('busy_timeout = 1000');
} catch (e) {
  parentPort.postMessage({ error: String(e && e.message), fatal: true });
}
let timer;
let restarts = 0;
// The last request for a checkpoint now that this one answers (its reports say so).
let asked = 0;
const tick = () => {
  try {
    let [r] = db.pragma('wal_checkpoint(PASSIVE)');
    if (r.log >= workerData.restartFrames && r.checkpointed === r.log) {
      // Both files synced first, without the lock: RESTART syncs the database while it holds
      // the writer's lock, and an fsync that has a busy disk's backlog to flush takes hundreds
      // of milliseconds.
      for (const f of [workerData.file, workerData.file + '-wal']) {
        const fd = fs.openSync(f, 'r');
        try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
      }
      [r] = db.pragma('wal_checkpoint(RESTART)');
      // What the next PASSIVE would see: the WAL starts over at its next write.
      if (r.busy === 0) {
        r = { log: 0, checkpointed: 0 };
        restarts++;
      }
    }
    parentPort.postMessage({ log: r.log, checkpointed: r.checkpointed, restarts, asked });
  } catch (e) {
    // A run that failed (a full disk) is tried again at the next interval.
    parentPort.postMessage({ error: String(e && e.message), asked });
  }
  timer = setTimeout(tick, workerData.intervalMs);
};
if (db) tick();
parentPort.on('message', (m) => {
  if (m && m.truncate) {
    // The expiry job's last step, here rather than on the event loop: copying what is left and
    // emptying the WAL can take a tenth of a second. Retried briefly while readers hold it.
    clearTimeout(timer);
    let busy = 1;
    try {
      for (let attempt = 0; attempt < 10 && busy; attempt++) {
        if (attempt) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
        busy = db.pragma('wal_checkpoint(TRUNCATE)')[0].busy;
      }
      parentPort.postMessage({ truncated: m.truncate, busy });
    } catch (e) {
      parentPort.postMessage({ truncated: m.truncate, failed: String(e && e.message) });
    }
    timer = setTimeout(tick, workerData.intervalMs);
    return;
  }
  if (m && m.now) {
    // Someone waits for the checkpoint to catch up: no need to wait for the timer.
    asked = m.now;
    clearTimeout(timer);
    if (db) tick();
    return;
  }
  if (m !== 'stop') return;
  clearTimeout(timer);
  try { if (db) db.close(); } catch {}
  Atomics.store(state, 0, 1);
  Atomics.notify(state, 0);
  parentPort.close();
});
`;

// Each checkpoint syncs the WAL and the database, and those syncs queue up on the disk with
// ingest's own; a longer interval also copies a page rewritten many times once (measured in
// docs/performance.md). Whoever waits for it to catch up (the expiry job) asks for one at once.
const MAX_INTERVAL_MS = 2_000;

/** The shortest interval, for the smallest WAL a disk allows. */
const MIN_INTERVAL_MS = 100;

/** The most frames the WAL holds before it starts over: 256 MiB of 4 KiB pages. */
export const MAX_RESTART_FRAMES = 65_536;

/** The fewest: 4 MiB of 4 KiB pages, however small the disk. */
export const MIN_RESTART_FRAMES = 1_024;

export interface CheckpointOptions {
  /** the worker could not start or died: the connection's own checkpoint is back on */
  onError: (message: string) => void;
  /** one run failed (SQLite's message); the next interval tries again */
  onRunFailed?: (message: string) => void;
  intervalMs?: number;
  /** how many copied frames start the WAL over (walRestartFrames gives it for a disk) */
  restartFrames?: number;
}

/**
 * How many frames the WAL may hold before it starts over on a file system of `diskBytes`: a
 * sixteenth of it, between 4 and 256 MiB. The WAL's file never shrinks while the collector
 * serves, and on a small disk 256 MiB of it was more than the disk: a 48 MiB one was full after
 * some 1,800 reports (17 KB of WAL each), and neither ingest nor the checkpoint had room left.
 *
 * @example
 * walRestartFrames(48 * 2 ** 20, 4096); // 1024
 * walRestartFrames(100 * 2 ** 30, 4096); // 65536
 */
export function walRestartFrames(diskBytes: number, pageSize: number): number {
  const frames = Math.floor(diskBytes / 16 / pageSize);
  return Math.min(MAX_RESTART_FRAMES, Math.max(MIN_RESTART_FRAMES, frames));
}

/**
 * How often the checkpoint runs for a WAL that starts over at `restartFrames`: 2 s for the
 * largest, less in proportion for a smaller one, at least every 100 ms. At saturation ingest
 * writes some 25 MB of WAL a second, so a small disk's 4 MiB WAL would be 50 MB before a
 * checkpoint 2 s apart could start it over.
 *
 * @example
 * checkpointInterval(65_536); // 2000
 * checkpointInterval(1_024); // 100
 */
export function checkpointInterval(restartFrames: number): number {
  const ms = Math.round((MAX_INTERVAL_MS * restartFrames) / MAX_RESTART_FRAMES);
  return Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, ms));
}

export interface Checkpointer {
  /**
   * Resolves at once while the WAL holds at most `maxFrames` frames (as the last checkpoint
   * found); otherwise, and always for 0, once a checkpoint run for the asking has copied all of
   * it (or after `timeoutMs`). A writer that never pauses keeps the checkpoint
   * from ever catching up, and SQLite starts the WAL over only when it has: the expiry job waits
   * here between chunks, so its WAL stays tens of megabytes instead of gigabytes (every page read
   * searches the WAL's index first, and slows down as it grows).
   */
  caughtUp(maxFrames: number, timeoutMs?: number): Promise<void>;
  /**
   * A `wal_checkpoint(TRUNCATE)` on the worker's connection: everything copied and the WAL
   * emptied. Resolves true when done, false when readers kept the WAL busy; rejects with
   * SQLite's error (or when the worker has failed).
   */
  truncate(): Promise<boolean>;
  /** What the last checkpoint found in the WAL (frames) and copied of it. */
  last(): { log: number; checkpointed: number };
  /** How many times it has started the WAL over (RESTART). */
  restarts(): number;
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
 * If the worker fails, the connection's automatic checkpoint comes back on. A run that fails
 * (a full disk) is only said (`onRunFailed`) and tried again at the next interval.
 *
 * @example
 * const checkpointer = checkpointInBackground(db, '/var/lib/jcs/collector.db', {
 *   onError: (e) => log.warn(e),
 *   onRunFailed: (e) => log.warn(e),
 * });
 * // ... on close:
 * checkpointer.stop();
 */
export function checkpointInBackground(
  db: Db,
  file: string,
  options: CheckpointOptions,
): Checkpointer {
  const {
    onError,
    onRunFailed = () => undefined,
    restartFrames = MAX_RESTART_FRAMES,
    intervalMs = checkpointInterval(restartFrames),
  } = options;
  const state = new SharedArrayBuffer(4);
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      driver: require.resolve('better-sqlite3'),
      file,
      state,
      intervalMs,
      restartFrames,
    },
  });
  worker.unref();
  db.pragma('wal_autocheckpoint = 0');
  let failed = false;
  let last = { log: 0, checkpointed: 0 };
  let restarts = 0;
  // Frames still to copy; once all are copied, the next write starts the WAL over.
  const pending = () => (last.log === last.checkpointed ? 0 : last.log);
  // Each waiter asked for a checkpoint: only a report from one run since then can release it.
  let waiters: { asked: number; resolve: () => void }[] = [];
  let asked = 0;
  const truncations = new Map<
    number,
    { resolve: (ok: boolean) => void; reject: (e: Error) => void }
  >();
  let nextTruncation = 0;
  const release = (answered = Infinity) => {
    const ready = waiters.filter((w) => w.asked <= answered);
    waiters = waiters.filter((w) => w.asked > answered);
    ready.forEach((w) => w.resolve());
  };
  const fallBack = (message: string) => {
    release();
    for (const t of truncations.values()) t.reject(new Error(message));
    truncations.clear();
    // Said once: the thread tries again every interval, and on a full disk every try fails
    // alike, which would be a warning every 2 s until there is room.
    if (failed) return;
    failed = true;
    onError(message);
    if (db.open) db.pragma('wal_autocheckpoint = 1000');
  };
  worker.on(
    'message',
    (m: {
      truncated?: number;
      busy?: number;
      failed?: string;
      error?: string;
      fatal?: boolean;
      log?: number;
      checkpointed?: number;
      restarts?: number;
      asked?: number;
    }) => {
      if (m.truncated !== undefined) {
        const t = truncations.get(m.truncated);
        truncations.delete(m.truncated);
        if (m.failed !== undefined) t?.reject(new Error(m.failed));
        else t?.resolve(m.busy === 0);
        return;
      }
      if (m.error !== undefined && m.fatal) {
        return fallBack(`background checkpoint failed: ${m.error}`);
      }
      if (m.error !== undefined) {
        // Not a reason to give the thread up: with the connection's own checkpoint back on, every
        // commit that crossed its mark would copy and sync inside ingest for as long as the
        // collector ran, though a full disk has room again a minute later.
        onRunFailed(m.error);
        release(m.asked ?? 0);
        return;
      }
      last = { log: m.log ?? 0, checkpointed: m.checkpointed ?? 0 };
      restarts = m.restarts ?? restarts;
      if (pending() === 0) release(m.asked ?? 0);
    },
  );
  worker.on('error', (e) => fallBack(`background checkpoint worker failed: ${e.message}`));
  return {
    caughtUp(maxFrames, timeoutMs = 2_000) {
      // What the last checkpoint found may be up to an interval old: 0 ("all of it") asks anew.
      if (failed || (maxFrames > 0 && pending() <= maxFrames)) return Promise.resolve();
      const mine = ++asked;
      worker.postMessage({ now: mine });
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        waiters.push({
          asked: mine,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    truncate() {
      if (failed) return Promise.reject(new Error('the background checkpoint has failed'));
      const id = ++nextTruncation;
      worker.postMessage({ truncate: id });
      return new Promise<boolean>((resolve, reject) => truncations.set(id, { resolve, reject }));
    },
    last: () => last,
    restarts: () => restarts,
    stop() {
      release();
      for (const t of truncations.values()) t.reject(new Error('the collector is closing'));
      truncations.clear();
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
