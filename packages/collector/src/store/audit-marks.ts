import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isProcessAlive } from '@jcs/protocol';
import { writeFileAtomic } from '../crypto/files';

/** A point in the access log's chain: an entry's sequence number and MAC. */
export interface ChainMark {
  seq: number;
  hash: string;
}

/** Before the first entry: what entry 1 chains from. */
export const ORIGIN: ChainMark = Object.freeze({ seq: 0, hash: '' });

/**
 * The two marks kept in the keys folder, out of reach of anyone who can only write the database:
 * the newest entry written (so cutting off the tail shows) and the last entry pruned (so deleting
 * the oldest entries cannot pass for a pruning).
 */
export function markFiles(keysDir: string): { head: string; anchor: string } {
  return {
    head: path.join(keysDir, 'audit-head.json'),
    anchor: path.join(keysDir, 'audit-anchor.json'),
  };
}

/**
 * Reads a mark file; null when there is none or it does not hold a mark.
 *
 * @example
 * readMark(markFiles(keyring.dir).head); // { seq: 1042, hash: '9f2c...' }
 */
export function readMark(file: string): ChainMark | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  return parseMark(text);
}

/** Writes a mark so that after a crash the file holds the old mark or the new, never a mix. */
export function writeMark(file: string, mark: ChainMark): void {
  writeFileAtomic(file, markText(mark));
}

/**
 * Writes a mark as `writeMark` does (temporary file synced, renamed, folder synced), with the
 * syncs off the event loop. The rename runs on the event loop and only when `wanted()` still says
 * so at that moment, so a mark written meanwhile by another writer (`writeMark` at close, another
 * process) is never replaced by an older one. Resolves true when the mark was put in place.
 *
 * @example
 * await writeMarkInBackground(head, { seq: 12, hash }, () => (readMark(head)?.seq ?? 0) < 12);
 */
export async function writeMarkInBackground(
  file: string,
  mark: ChainMark,
  wanted: () => boolean,
): Promise<boolean> {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  inFlight.add(tmp);
  try {
    const handle = await fs.promises.open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(markText(mark));
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (!wanted()) {
      fs.rmSync(tmp, { force: true });
      return false;
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  } finally {
    inFlight.delete(tmp);
  }
  const dir = await fs.promises.open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
  return true;
}

/** Temporary files of background writes under way in this process. */
const inFlight = new Set<string>();

/**
 * Removes the temporary files of background writes of `file` still under way, for a closing
 * collector: the process may exit before they finish, and each would be left in the keys folder
 * (one a stop). A write that goes on finds its file gone and leaves the mark as close wrote it.
 *
 * @example
 * dropMarkWritesInFlight(markFiles(keysDir).head);
 */
export function dropMarkWritesInFlight(file: string): void {
  for (const tmp of inFlight) {
    if (!tmp.startsWith(`${file}.`)) continue;
    fs.rmSync(tmp, { force: true });
    inFlight.delete(tmp);
  }
}

/**
 * Removes mark temporary files that processes no longer running left in the keys folder (killed
 * mid-write, or stopped before `dropMarkWritesInFlight` came in, or before the write it dropped
 * had made its file). Only files over a minute old: a pid is only known within its own pid
 * namespace, and a `serve` in a container writing right now must keep its file. Housekeeping
 * only: a file that cannot be removed is left.
 *
 * @example
 * sweepStaleMarkTemps(keyring.dir); // audit-head.json.4711.9f2c01ab.tmp gone, if 4711 is not running
 */
export function sweepStaleMarkTemps(keysDir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(keysDir);
  } catch {
    return; // the keys folder's own checks say what is wrong with it
  }
  for (const name of names) {
    const m = /^audit-(?:head|anchor)\.json\.(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name);
    if (!m || isProcessAlive(Number(m[1]))) continue;
    const file = path.join(keysDir, name);
    try {
      if (Date.now() - fs.statSync(file).mtimeMs > STALE_MS) fs.rmSync(file, { force: true });
    } catch {
      // gone meanwhile, or not ours to remove: the next start tries again
    }
  }
}

/** How old a dead process's temporary file must be before it is swept. */
const STALE_MS = 60_000;

function markText(mark: ChainMark): string {
  return JSON.stringify({ seq: mark.seq, hash: mark.hash }) + '\n';
}

/** A mark from its JSON text (a file or the meta table); null for anything else. */
export function parseMark(text: string | undefined): ChainMark | null {
  if (text === undefined) return null;
  try {
    const v = JSON.parse(text) as Partial<ChainMark>;
    if (Number.isSafeInteger(v.seq) && v.seq! >= 0 && typeof v.hash === 'string') {
      return { seq: v.seq!, hash: v.hash };
    }
  } catch {
    // not a mark
  }
  return null;
}

/**
 * Keeps a copy of the head mark beside it (`audit-head.at-break-<time>.json`), for `serve` when
 * it finds at start that the access log's tail is not as the mark says: the next entries move the
 * mark on, and with it the evidence of where the log stood. Answers the copy's name, or undefined
 * when there is no mark to copy or it cannot be written.
 *
 * @example
 * keepHeadAtBreak('/var/lib/jcs-collector/keys', Date.now()); // 'audit-head.at-break-20261206T215917.123Z.json'
 */
export function keepHeadAtBreak(keysDir: string, now: number): string | undefined {
  // To the millisecond: two starts in one second each keep their own.
  const stamp = new Date(now).toISOString().replace(/[-:]/g, '');
  const name = `audit-head.at-break-${stamp}.json`;
  const file = path.join(keysDir, name);
  try {
    fs.copyFileSync(markFiles(keysDir).head, file, fs.constants.COPYFILE_EXCL);
  } catch {
    return undefined;
  }
  try {
    fs.chmodSync(file, 0o600);
  } catch {
    // copied all the same, in a folder only the collector's user may enter
  }
  return name;
}
