import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

/**
 * Writes a file so that after a crash it is either the old content or the new, never a torn mix:
 * temp file, fsync, rename, fsync of the folder. Keys must survive a power cut once a report
 * sealed with them is acknowledged.
 *
 * @example
 * writeFileAtomic('/var/lib/jcs-collector/keys/days/2026-11-01.key', wrapped);
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): void {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    try {
      fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    // A half-written temp file (disk full) must not linger: it may hold a wrapped key that a
    // later key destruction would not know to shred.
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(path.dirname(file));
}

/** Syncs a folder, so a rename or unlink in it survives a power cut. */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Overwrites a key file with random bytes and syncs before unlinking it (crypto-shredding).
 *
 * @example
 * shredFile('/var/lib/jcs-collector/keys/days/2026-09-19.key');
 */
export function shredFile(file: string): void {
  let size = 0;
  try {
    size = fs.statSync(file).size;
  } catch {
    return;
  }
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, crypto.randomBytes(Math.max(size, 64)), 0);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.unlinkSync(file);
  fsyncDir(path.dirname(file));
}
