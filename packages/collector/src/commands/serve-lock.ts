import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { isProcessAlive } from '@jcs/protocol';
import { readPidFile } from './pid-file';
import { dataPaths } from '../paths';
import { CommandError } from './output';

/**
 * Makes `serve` the only one on its data dir, for as long as it runs: an exclusive SQLite lock
 * on `serve.lock` in the data dir, which the operating system releases however the process ends
 * (a SIGKILL included), so a restart never finds a stale lock.
 *
 * Why: a second `serve` on the same data dir used to be merely wasteful. With the inbox
 * (store/inbox-writer.ts) it is harmful: at its start it would fold and empty the first one's
 * inbox, and it would write ahead into the inbox's WAL while the first appends to it.
 * `jcs-collector expire`, `token` and `audit verify` beside a running `serve` take no lock.
 *
 * Returns null where there is no database yet: opening the collector then says what to do.
 *
 * @example
 * const lock = lockDataDir(dataDir); // throws CommandError (exit 1) if another serve holds it
 * try { await serveUntilStopped(); } finally { lock?.release(); }
 */
export function lockDataDir(dataDir: string): { release(): void } | null {
  if (!fs.existsSync(dataPaths(dataDir).db)) return null;
  const pidFile = path.join(dataDir, 'serve.pid');
  const lock = takeLock(path.join(dataDir, 'serve.lock'), 0);
  if (!lock) throw new CommandError(runningMessage(dataDir));
  try {
    fs.writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
  } catch {
    // only a better message for a second serve: never a reason not to serve
  }
  return {
    release: () => {
      // Gone with a clean stop, so that `kill $(cat serve.pid)` run later cannot reach another
      // process given the same pid; removed before the lock goes, as the next serve writes its own.
      try {
        if (readPidFile(pidFile) === process.pid) fs.rmSync(pidFile, { force: true });
      } catch {
        // left behind: it names a process that is gone, which readers check
      }
      lock.release();
    },
  };
}

/**
 * Whether another `serve` runs on this data dir, told without making or writing any file (the
 * lock is taken and let go at once, where `serve.lock` exists): for a serve refused its port, as
 * a second serve with the first one's settings is, whose line should name the first.
 *
 * @example
 * const running = serveRunningOn(dataDir); // 'jcs-collector serve (pid 4242) is running on ...' or null
 */
export function serveRunningOn(dataDir: string): string | null {
  const file = path.join(dataDir, 'serve.lock');
  if (!fs.existsSync(file)) return null;
  const lock = takeLock(file, 0);
  if (!lock) return runningMessage(dataDir);
  lock.release();
  return null;
}

/** Which process holds the data dir, so that one left running unseen can be found and stopped. */
function runningMessage(dataDir: string): string {
  const pid = holderPid(path.join(dataDir, 'serve.pid'));
  const which = pid === null ? 'another jcs-collector serve' : `jcs-collector serve (pid ${pid})`;
  const stop = pid === null ? 'stop it first' : `stop it first (kill ${pid})`;
  return `${which} is running on ${dataDir}: ${stop} (one serve per data dir)`;
}

/** The process id the lock's holder wrote, while that process is alive; else null. */
function holderPid(pidFile: string): number | null {
  const pid = readPidFile(pidFile);
  return pid !== null && isProcessAlive(pid) ? pid : null;
}

/**
 * An exclusive lock on `file` (an SQLite file made for it), waiting up to `waitMs` for another
 * process to let go; null if it does not. The operating system releases it however the process
 * ends, so no lock is ever left stale.
 *
 * @example
 * const lock = takeLock(path.join(dataDir, 'key-rotate.lock'), 10_000);
 */
export function takeLock(file: string, waitMs: number): { release(): void } | null {
  const db = new Database(file);
  try {
    db.pragma(`busy_timeout = ${waitMs}`);
    // Held by a transaction left open until the connection closes. Not `locking_mode =
    // EXCLUSIVE`: that mode keeps the shared lock of a failed try, so two waiters keep each other
    // out until both give up, with the lock free. The journal in memory: a killed holder leaves
    // no journal file beside the lock.
    db.pragma('journal_mode = MEMORY');
    db.exec('BEGIN EXCLUSIVE');
  } catch (e) {
    db.close();
    if ((e as { code?: string }).code === 'SQLITE_BUSY') return null;
    throw e;
  }
  return { release: () => db.close() };
}
