import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { syncDirectory } from './fsync';
import { retryTransient } from './transient-retry';

/** Larger than any sealed report: a file this big is not one. */
const MAX_REPORT_FILE_BYTES = 1024 * 1024;

/** The entries of a directory; none when it cannot be read (gone, or permissions pulled). */
export function entriesIn(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** The names in a directory; none when it cannot be read (gone, or permissions pulled). */
export function namesIn(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** The file's bytes; null when empty, too large to be a report, or not a regular file. */
export function readSmallFile(file: string): Buffer | null {
  // lstat: a symbolic link is never followed (its target is not the queue's to read or keep).
  const stat = fs.lstatSync(file);
  if (!stat.isFile()) return null;
  const size = stat.size;
  if (size === 0 || size > MAX_REPORT_FILE_BYTES) return null;
  return fs.readFileSync(file);
}

/**
 * A new name in `tmpDir` for this process: `<pid>-<random>.<ext>`, so the files a dead process
 * left are told from a live one's.
 */
export function tempPath(tmpDir: string, ext: string): string {
  return path.join(tmpDir, `${process.pid}-${randomBytes(6).toString('hex')}.${ext}`);
}

/**
 * Writes `bytes` to a new file in `tmpDir` and fsyncs it (through the descriptor it was written
 * with: Windows refuses to fsync a read-only one); returns its path. Nothing is left on failure.
 */
function writeTemp(tmpDir: string, bytes: Uint8Array): string {
  const tmp = tempPath(tmpDir, 'tmp');
  try {
    const fd = retryTransient(() => fs.openSync(tmp, 'wx', 0o600));
    try {
      fs.writeFileSync(fd, bytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    removeTemp(tmp);
    throw error;
  }
  return tmp;
}

/**
 * Removes a temp file this process wrote. One that cannot go now (on Windows, a virus scanner
 * still has it open) is left for the sweep of `tmp/` at a later start: failing here reported the
 * write or link just made as failed, or hid the error that failed it.
 */
function removeTemp(tmp: string): void {
  try {
    fs.rmSync(tmp, { force: true });
  } catch {
    // left for the sweep
  }
}

/**
 * Writes `bytes` to `target` whole or not at all: written to `tmpDir`, fsynced, renamed over
 * `target` (on the same file system), and the rename synced, whatever moment the process dies.
 * The rename is tried again while a lock of a moment refuses it: a virus scanner opens the fresh
 * temp file on Windows, and one such refusal cost the report its place on disk.
 */
export function writeAtomic(tmpDir: string, target: string, bytes: Uint8Array): void {
  const tmp = writeTemp(tmpDir, bytes);
  try {
    retryTransient(() => fs.renameSync(tmp, target));
  } catch (error) {
    removeTemp(tmp);
    throw error;
  }
  syncDirectory(path.dirname(target));
}

/**
 * Writes `bytes` to `target` whole, only where no file is: written to `tmpDir`, fsynced, then
 * hard-linked to `target` (a link never replaces a file, so of processes racing exactly one
 * publishes), and the link synced. True when this call published it; false when a file was there.
 *
 * @example
 * if (!publishOnce(tmpDir, keyFile, nacl.randomBytes(32))) key = readKey(); // another won
 */
export function publishOnce(tmpDir: string, target: string, bytes: Uint8Array): boolean {
  const tmp = writeTemp(tmpDir, bytes);
  try {
    retryTransient(() => fs.linkSync(tmp, target));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return false;
  } finally {
    removeTemp(tmp);
  }
  syncDirectory(path.dirname(target));
  return true;
}
