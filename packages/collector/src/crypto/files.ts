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
 * The name a key file takes while it is shredded: out of the way of the keyring (whose day keys
 * are `<day>.key`, and which would refuse a file of noise there, and `serve` start with it), and
 * found again by finishShredding should the shredding stop half way. Unique: a second shredding
 * of the day (its next key) must not rename over a first one's leftover, whose bytes would then
 * be freed without their overwrite.
 */
function shreddingName(file: string): string {
  const unique = crypto.randomBytes(6).toString('hex');
  return path.join(path.dirname(file), `.${path.basename(file)}.${unique}.shred`);
}

const SHREDDING = /^\.(\d{4}-\d{2}-\d{2})\.key\.[0-9a-f]+\.shred$/;

const gone = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * Crypto-shreds a key file: renames it out of the way (synced, so that no power cut leaves noise
 * under the key's name), overwrites it with random bytes and syncs, then unlinks it and syncs its
 * folder. In the thread pool: each fsync can take tens of milliseconds while the expiry job's
 * writes keep the disk busy, and on the event loop every request waited for them. Nothing to do
 * when the file is gone. Should it fail past the rename, the key is out of use, and the next
 * expiry run finishes it (finishShredding).
 *
 * @example
 * await shredFile('/var/lib/jcs-collector/keys/days/2026-09-19.key');
 */
export async function shredFile(file: string): Promise<void> {
  const doomed = shreddingName(file);
  try {
    await fs.promises.rename(file, doomed);
  } catch (e) {
    if (gone(e)) return;
    throw e;
  }
  await syncDir(path.dirname(file));
  const handle = await fs.promises.open(doomed, 'r+');
  try {
    await handle.write(crypto.randomBytes(Math.max((await handle.stat()).size, 64)), 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.promises.unlink(doomed);
  await syncDir(path.dirname(file));
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * shredFile, on the calling thread: for a shredding that must be over before the caller goes on
 * (inside a write transaction). Returns false where the key left its name but the rest failed:
 * out of use all the same, its bytes are overwritten by the next expiry run (finishShredding).
 * Throws where the rename failed: then nothing changed.
 *
 * @example
 * shredFileSync('/var/lib/jcs-collector/keys/days/2026-12-07.key'); // true
 */
export function shredFileSync(file: string): boolean {
  const doomed = shreddingName(file);
  try {
    fs.renameSync(file, doomed);
  } catch (e) {
    if (gone(e)) return true;
    throw e;
  }
  try {
    fsyncDir(path.dirname(file));
    overwriteAndUnlinkSync(doomed);
    return true;
  } catch {
    return false;
  }
}

/** Overwrites, syncs and unlinks a leftover; one another run finished meanwhile is done. */
function overwriteAndUnlinkSync(file: string): void {
  try {
    // Anything but a file (a link, a folder) is unlinked unopened: never a write through a link.
    if (fs.lstatSync(file).isFile()) {
      const fd = fs.openSync(file, 'r+');
      try {
        const noise = crypto.randomBytes(Math.max(fs.fstatSync(fd).size, 64));
        fs.writeSync(fd, noise, 0, noise.length, 0);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.unlinkSync(file);
    } else {
      fs.rmSync(file, { recursive: true, force: true });
    }
  } catch (e) {
    if (gone(e)) return;
    throw e;
  }
  fsyncDir(path.dirname(file));
}

/**
 * The days of the key files in a folder whose shredding is left half done (renamed out of the
 * way, not yet overwritten and unlinked): one entry a file, sorted; none when there is no folder.
 *
 * @example
 * shreddingDays('/var/lib/jcs-collector/keys/days'); // [] or ['2026-09-01']
 */
export function shreddingDays(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if (gone(e)) return [];
    throw e;
  }
  return names
    .map((n) => SHREDDING.exec(n)?.[1])
    .filter((d): d is string => d !== undefined)
    .sort();
}

/**
 * Overwrites and removes what shreddings left half done in a folder (a failed sync, a process
 * killed): each expiry run calls it. One that fails is said in `failed` (and tried again by the
 * next run), not thrown: it must not hold up the shredding of the keys that are due.
 *
 * @example
 * finishShredding('/var/lib/jcs-collector/keys/days'); // { finished: 0, failed: [] }
 */
export function finishShredding(dir: string): { finished: number; failed: string[] } {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if (gone(e)) return { finished: 0, failed: [] };
    throw e;
  }
  const done = { finished: 0, failed: [] as string[] };
  for (const name of names.filter((n) => SHREDDING.test(n))) {
    try {
      overwriteAndUnlinkSync(path.join(dir, name));
      done.finished++;
    } catch (e) {
      done.failed.push(`${name} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  return done;
}
