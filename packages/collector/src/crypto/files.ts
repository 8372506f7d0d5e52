import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

const ZEROS = Buffer.alloc(1 << 20);

/**
 * Writes zeros over bytes [from, to) of an open file, a megabyte at a time: for zeroing deleted
 * records (store/sealed-wipes.ts) and for writing files ahead so that later writes overwrite
 * blocks the file already has (the day files, store/sealed-files.ts; the inbox's WAL,
 * store/inbox.ts). Not synced: the caller says when.
 *
 * @example
 * writeZeros(fd, size, size + 1024 * 1024);
 */
export function writeZeros(fd: number, from: number, to: number): void {
  for (let at = from; at < to;) {
    at += fs.writeSync(fd, ZEROS, 0, Math.min(ZEROS.length, to - at), at);
  }
}

/**
 * Writes a file so that after a crash it is either the old content or the new, never a torn mix:
 * temp file, fsync, rename, fsync of the folder. Keys must survive a power cut once a report
 * sealed with them is acknowledged.
 *
 * With `exclusive`, a file already at `file` is left as it is and false is returned: a link
 * instead of a rename, so that of two processes making one key file, one wins and the other
 * learns it, rather than both reporting a key of which only the last stays.
 *
 * @example
 * writeFileAtomic('/var/lib/jcs-collector/keys/days/2026-11-01.key', wrapped);
 */
export function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  mode = 0o600,
  options: { exclusive?: boolean } = {},
): boolean {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    try {
      fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (options.exclusive) {
      linkOrRename(tmp, file);
      fs.rmSync(tmp, { force: true });
    } else {
      fs.renameSync(tmp, file);
    }
  } catch (e) {
    // A half-written temp file (disk full) must not linger: it may hold a wrapped key that a
    // later key destruction would not know to shred.
    fs.rmSync(tmp, { force: true });
    if (options.exclusive && (e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  fsyncDir(path.dirname(file));
  return true;
}

/**
 * Puts `tmp` at `file` unless a file is there (EEXIST): a hard link, which fails rather than
 * replace one. A file system without hard links (SMB without Unix extensions, some FUSE mounts)
 * gets a look and a rename instead: a race there can still replace a file made a moment before.
 */
function linkOrRename(tmp: string, file: string): void {
  try {
    fs.linkSync(tmp, file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') {
      throw e;
    }
    if (fs.existsSync(file)) throw Object.assign(new Error(`EEXIST: ${file}`), { code: 'EEXIST' });
    fs.renameSync(tmp, file);
  }
}

/**
 * Syncs a folder, so a rename, creation or unlink in it survives a power cut.
 *
 * @example
 * fs.renameSync(tmp, file);
 * fsyncDir(path.dirname(file));
 */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Crypto-shreds a key file: unlinks it, then overwrites its bytes with random ones through the
 * descriptor still open and syncs them, then syncs its folder. Unlinked first: should the
 * overwrite fail, no file of noise is left where the key was, which the keyring would refuse to
 * open (and `serve` to start). In the thread pool: each of its two fsyncs can take tens of
 * milliseconds while the expiry job's writes keep the disk busy, and on the event loop every
 * request waited for them. Nothing to do when the file is gone.
 *
 * @example
 * await shredFile('/var/lib/jcs-collector/keys/days/2026-09-19.key');
 */
export async function shredFile(file: string): Promise<void> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, 'r+');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  try {
    const size = (await handle.stat()).size;
    await fs.promises.unlink(file);
    await handle.write(crypto.randomBytes(Math.max(size, 64)), 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
  const dir = await fs.promises.open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/**
 * shredFile, on the calling thread: for a shredding that must be over before the caller goes on
 * (inside a write transaction).
 *
 * @example
 * shredFileSync('/var/lib/jcs-collector/keys/days/2026-12-07.key');
 */
export function shredFileSync(file: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r+');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  try {
    const noise = crypto.randomBytes(Math.max(fs.fstatSync(fd).size, 64));
    fs.unlinkSync(file);
    fs.writeSync(fd, noise, 0, noise.length, 0);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fsyncDir(path.dirname(file));
}
