/**
 * The codes a file operation fails with on Windows while another program has the file open: a
 * virus scanner or a search indexer opening a file the queue has just written, a backup agent
 * reading it, mostly without FILE_SHARE_DELETE. Renaming, deleting or opening it then fails for
 * milliseconds to seconds, and libuv's rename (MoveFileExW) does not try again itself; graceful-fs
 * retries renames on win32 for this reason.
 */
const TRANSIENT = new Set(['EPERM', 'EBUSY', 'EACCES']);

/** The waits between tries: 75 ms in all, so a `report()` that meets a lock is not held long. */
const WAITS_MS = [5, 10, 20, 40];

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Runs a synchronous file operation, trying again after a short wait (blocking: `report()` stores
 * its report before it returns) while it fails with EPERM, EBUSY or EACCES; any other failure, or
 * the last try's, is thrown as it came.
 *
 * On every platform, not only win32: there the codes are a lock of a moment, elsewhere mostly a
 * permission refused for good, which costs the 75 ms for nothing. The queue uses it only where one
 * failure would lose a report or leave it stranded (a rename into `pending/`, a claim given back,
 * the delete after delivery, the key file's read, a claimed report's read), never in a loop over
 * the queue's files, so that cost is paid once, and the same code runs (and is tested, by
 * injected faults) everywhere.
 *
 * @example
 * retryTransient(() => fs.renameSync(tmp, target));
 */
export function retryTransient<T>(operation: () => T): T {
  for (const wait of WAITS_MS) {
    try {
      return operation();
    } catch (error) {
      if (!isTransient(error)) throw error;
    }
    Atomics.wait(sleeper, 0, 0, wait);
  }
  return operation();
}

/** Whether a file operation failed as a lock of a moment on Windows would make it. */
export function isTransient(error: unknown): boolean {
  return TRANSIENT.has((error as NodeJS.ErrnoException | null)?.code ?? '');
}
